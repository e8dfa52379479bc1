"""The batch writer: moves acknowledged records from the spool into the database, in order, in batches.

It runs as a child process of `inferwatch serve` (``python -m collector.writer``), so that decoding
requests and writing rows use two cores instead of taking turns on one interpreter lock. The spool on disk
is the only thing the two processes share; the child reports each commit as one JSON line on stdout, which
the parent turns into metrics and spool capacity.

A database that is down or locked is retried with exponential back-off for as long as it takes; records wait
in the spool meanwhile and clients keep getting OK answers until the spool is full. Inserts are idempotent
(``ON CONFLICT DO NOTHING`` on the span and prediction keys, last-write-wins for outcomes), so a batch that
was committed just before a crash and replayed after it is stored once.

The child stops when its stdin closes (the parent is done appending, or died): it drains what is in the
spool and exits. SIGTERM makes it give up waiting for a database that is down; the rest stays in the spool.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from collector.domain import OutcomeRecord, PredictionRecord, SpanRecord
from collector.spool import SpoolPosition, SpoolReader

logger = logging.getLogger(__name__)

Kind = Literal["spans", "predictions", "outcomes"]
_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "spans": SpanRecord._fields,
    "predictions": PredictionRecord._fields,
    "outcomes": OutcomeRecord._fields,
}
_OUTCOME_UPDATE = ("model_name", "ts_unix_nano", "received_unix_nano", "actual")
MAX_RETRY_DELAY_S = 5.0
IDLE_POLL_S = 0.005
Batches = dict[Kind, list[tuple[object, ...]]]


def encode_batch(kind: Kind, records: Sequence[NamedTuple]) -> bytes:
    """One spool payload. Plain tuples pickle smaller and load faster than the NamedTuples they come from."""
    return pickle.dumps((kind, [tuple(record) for record in records]), protocol=pickle.HIGHEST_PROTOCOL)


def decode_batch(payload: bytes) -> tuple[Kind, list[tuple[object, ...]]]:
    """The inverse of encode_batch. The spool directory is private to this service (mode 0700)."""
    kind, rows = pickle.loads(payload)  # our own spool, never data from the network
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


class DatabaseWriter:
    """The loop of the writer process: read the spool, commit a batch, move the checkpoint."""

    def __init__(
        self,
        reader: SpoolReader,
        engine: Engine,
        *,
        report: Callable[[dict[str, Any]], None],
        max_batch_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self._reader = reader
        self._engine = engine
        self._report = report
        self._max_batch_bytes = max_batch_bytes
        self._statements = {kind: insert_statement(kind, engine.dialect.name) for kind in _COLUMNS}
        self.stopping = threading.Event()
        self.abandon = threading.Event()
        self._last_error: str | None = None

    def run(self) -> None:
        """Until told to stop and the spool is drained (or told to abandon)."""
        while not self.abandon.is_set():
            records = self._reader.read(self._max_batch_bytes)
            if not records:
                if self.stopping.is_set():
                    return
                time.sleep(IDLE_POLL_S)
                continue
            batches: Batches = defaultdict(list)
            for record in records:
                kind, rows = decode_batch(record.payload)
                batches[kind].extend(rows)
            if not self._commit_with_retry(batches, records[-1].end):
                return

    def _commit_with_retry(self, batches: Batches, end: SpoolPosition) -> bool:
        """Commit the batches, retrying while the database is unavailable; False when told to give up."""
        delay = 0.05
        while True:
            started = time.perf_counter()
            dropped: dict[str, int] = {}
            try:
                try:
                    with self._engine.begin() as connection:
                        self._write(connection, batches)
                except OperationalError:
                    raise
                except DBAPIError as error:
                    # Not an outage: some row breaks a constraint validation did not catch. Keep the good rows.
                    self._note_failure(error)
                    dropped = self._write_row_by_row(batches)
            except OperationalError as error:
                self._note_failure(error)
                if self.abandon.wait(delay):
                    return False
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
                continue
            self._reader.commit(end)
            if self._last_error is not None:
                logger.info("database writes recovered")
                self._last_error = None
            self._report(
                {
                    "committed": [end.segment, end.offset],
                    "rows": {kind: len(rows) for kind, rows in batches.items()},
                    "dropped": dropped,
                    "seconds": time.perf_counter() - started,
                }
            )
            return True

    def _write(self, connection: Connection, batches: Batches) -> None:
        for kind, rows in batches.items():
            connection.exec_driver_sql(self._statements[kind], rows)

    def _write_row_by_row(self, batches: Batches) -> dict[str, int]:
        dropped: dict[str, int] = defaultdict(int)
        for kind, rows in batches.items():
            for row in rows:
                try:
                    with self._engine.begin() as connection:
                        connection.exec_driver_sql(self._statements[kind], row)
                except OperationalError:
                    raise
                except DBAPIError as error:
                    dropped[kind] += 1
                    logger.error("dropping one %s row the database refuses: %s; row key %r", kind, error.orig, row[:2])
        return dict(dropped)

    def _note_failure(self, error: DBAPIError) -> None:
        message = f"{type(error.orig).__name__}: {error.orig}".strip()
        if message != self._last_error:
            logger.warning("database write failed, retrying with back-off: %s", message)
        self._last_error = message
        self._report({"error": message})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the writer process."""
    from collector.storage.engine import create_engine_for

    parser = argparse.ArgumentParser(prog="python -m collector.writer", description=__doc__)
    parser.add_argument("--spool-dir", required=True, type=Path)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--max-batch-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[writer]: %(message)s",
        stream=sys.stderr,
    )
    out = sys.stdout

    def report(event: dict[str, Any]) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    reader = SpoolReader(args.spool_dir).open()
    engine = create_engine_for(args.db_url)
    writer = DatabaseWriter(reader, engine, report=report, max_batch_bytes=args.max_batch_bytes)
    signal.signal(signal.SIGTERM, lambda signum, frame: writer.abandon.set())
    # SIGINT goes to the whole process group on Ctrl-C; the parent decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        writer.stopping.set()

    threading.Thread(target=wait_for_eof, name="stdin-eof", daemon=True).start()
    report({"ready": True})
    try:
        writer.run()
    finally:
        engine.dispose()
        reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
