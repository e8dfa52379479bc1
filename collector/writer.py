"""The batch writer: moves acknowledged records from the spool into the database, in order, in batches.

One thread, so the database sees one writer per process (SQLite allows no more) and batches stay large. A
database that is down or locked is retried with exponential back-off for as long as it takes; records wait
in the spool meanwhile and clients keep getting OK answers until the spool is full. Inserts are idempotent
(``ON CONFLICT DO NOTHING`` on the span and prediction keys, last-write-wins for outcomes), so a batch that
was committed just before a crash and replayed after it is stored once.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from types import TracebackType
from typing import Literal, NamedTuple

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from collector.domain import OutcomeRecord, PredictionRecord, SpanRecord
from collector.metrics import ServiceMetrics
from collector.spool import Spool, SpoolPosition

logger = logging.getLogger(__name__)

Kind = Literal["spans", "predictions", "outcomes"]
_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "spans": SpanRecord._fields,
    "predictions": PredictionRecord._fields,
    "outcomes": OutcomeRecord._fields,
}
_OUTCOME_UPDATE = ("model_name", "ts_unix_nano", "received_unix_nano", "actual")
MAX_RETRY_DELAY_S = 5.0


def encode_batch(kind: Kind, records: Sequence[NamedTuple]) -> bytes:
    """One spool payload. Plain tuples pickle smaller and load faster than the NamedTuples they come from."""
    return pickle.dumps((kind, [tuple(record) for record in records]), protocol=pickle.HIGHEST_PROTOCOL)


def decode_batch(payload: bytes) -> tuple[Kind, list[tuple[object, ...]]]:
    """The inverse of encode_batch. The spool directory is private to this process (mode 0700)."""
    kind, rows = pickle.loads(payload)
    return kind, rows


def insert_statement(kind: Kind, dialect: str) -> str:
    """The idempotent INSERT for one kind of record, in the driver's parameter style."""
    columns = _COLUMNS[kind]
    placeholder = "?" if dialect == "sqlite" else "%s"
    head = f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})"
    if kind == "outcomes":
        updates = ", ".join(f"{column} = excluded.{column}" for column in _OUTCOME_UPDATE)
        return f"{head} ON CONFLICT (prediction_id) DO UPDATE SET {updates}"
    return f"{head} ON CONFLICT DO NOTHING"


class BatchWriter:
    """Drains the spool into the database on a thread; an async context manager that drains on exit."""

    def __init__(
        self,
        spool: Spool,
        engine: Engine,
        metrics: ServiceMetrics,
        *,
        max_batch_bytes: int = 8 * 1024 * 1024,
        drain_timeout_s: float = 30.0,
    ) -> None:
        self._spool = spool
        self._engine = engine
        self._metrics = metrics
        self._max_batch_bytes = max_batch_bytes
        self._drain_timeout_s = drain_timeout_s
        self._dialect = engine.dialect.name
        self._statements = {kind: insert_statement(kind, self._dialect) for kind in _COLUMNS}
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inferwatch-batch-writer", daemon=True)
        self.last_error: str | None = None

    async def __aenter__(self) -> BatchWriter:
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        await asyncio.to_thread(self._thread.join, self._drain_timeout_s)
        if self._thread.is_alive():
            self._abandon.set()
            await asyncio.to_thread(self._thread.join, MAX_RETRY_DELAY_S + 1)
            logger.error(
                "database did not take the buffered records within %g s; %d bytes stay in the spool and are "
                "written at the next start",
                self._drain_timeout_s,
                self._spool.pending_bytes,
            )

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything appended so far is committed; True if it was within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self._spool.has_pending():
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while True:
            records = self._spool.read(self._max_batch_bytes, timeout_s=0.1)
            self._metrics.spool_pending_bytes.set(self._spool.pending_bytes)
            if not records:
                if self._stopping.is_set():
                    return
                continue
            batches: dict[Kind, list[tuple[object, ...]]] = defaultdict(list)
            for record in records:
                kind, rows = decode_batch(record.payload)
                batches[kind].extend(rows)
            if not self._commit_with_retry(batches, records[-1].end):
                return

    def _commit_with_retry(self, batches: dict[Kind, list[tuple[object, ...]]], end: SpoolPosition) -> bool:
        """Commit the batches, retrying while the database is unavailable; False when told to give up."""
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                with self._engine.begin() as connection:
                    self._write(connection, batches)
            except OperationalError as error:
                self._note_failure(error)
                if self._abandon.wait(delay):
                    return False
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
                continue
            except DBAPIError as error:
                # Not an outage: some row breaks a constraint validation did not catch. Keep the good rows.
                self._note_failure(error)
                try:
                    self._write_row_by_row(batches)
                except OperationalError as outage:
                    self._note_failure(outage)
                    if self._abandon.wait(delay):
                        return False
                    continue
            self._spool.commit(end)
            self._metrics.writer_commit_seconds.observe(time.perf_counter() - started)
            for kind, rows in batches.items():
                self._metrics.rows_stored.labels(table=kind).inc(len(rows))
            if self.last_error is not None:
                logger.info("database writes recovered")
                self.last_error = None
            self._metrics.spool_pending_bytes.set(self._spool.pending_bytes)
            return True

    def _write(self, connection: Connection, batches: dict[Kind, list[tuple[object, ...]]]) -> None:
        for kind, rows in batches.items():
            connection.exec_driver_sql(self._statements[kind], rows)

    def _write_row_by_row(self, batches: dict[Kind, list[tuple[object, ...]]]) -> None:
        for kind, rows in batches.items():
            for row in rows:
                try:
                    with self._engine.begin() as connection:
                        connection.exec_driver_sql(self._statements[kind], row)
                except OperationalError:
                    raise
                except DBAPIError as error:
                    self._metrics.rows_dropped.labels(table=kind).inc()
                    logger.error("dropping one %s row the database refuses: %s; row key %r", kind, error.orig, row[:2])

    def _note_failure(self, error: DBAPIError) -> None:
        self._metrics.writer_errors.inc()
        message = f"{type(error.orig).__name__}: {error.orig}".strip()
        if message != self.last_error:
            logger.warning("database write failed, retrying with back-off: %s", message)
        self.last_error = message
