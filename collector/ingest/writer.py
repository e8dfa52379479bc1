"""The batch writer: moves acknowledged records from the spool into the database, in order, in batches.

It runs as a child process of `inferwatch serve` (``python -m collector.ingest.writer``), so that decoding
requests and writing rows use two cores instead of taking turns on one interpreter lock. The spool on disk
is the only thing the two processes share; the child reports each commit as one JSON line on stdout, which
the parent turns into metrics and spool capacity.

A database that is down or locked is retried with exponential back-off for as long as it takes; records wait
in the spool meanwhile and clients keep getting OK answers until the spool is full. Inserts are idempotent
(``ON CONFLICT DO NOTHING`` on the span and prediction keys, last-write-wins for outcomes; ``row_inserts``), so
a batch that was committed just before a crash and replayed after it is stored once.

A batch the database refuses for what it holds (not for an outage) is split in halves until the refused rows
stand alone; those go to the ``dead_letters`` table with the reason and everything else is stored. No row
can stop the writer: the decoders already cut values to the columns (``collector.core.limits``), and this is the
net under them. A spool record that kills the process itself is set aside by the supervisor
(``--quarantine-first``) after repeated deaths on it.

The child stops when its stdin closes (the parent is done appending, or died): it drains what is in the
spool and exits. SIGTERM makes it give up waiting for a database that is down; the rest stays in the spool.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from collector.core.limits import clamp_text
from collector.core.storage.failures import describe_error, is_transient
from collector.core.storage.tables import DeadLetterRow
from collector.ingest.outcome_ids import stored_prediction_ids
from collector.ingest.row_inserts import Kind, RowInserter
from collector.ingest.spool import SpoolPosition, SpoolReader, SpoolRecord

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 5.0
IDLE_POLL_S = 0.005
Batches = dict[Kind, list[tuple[object, ...]]]
# The environment variable that hands the database URL to the writer process: never on its command line,
# where `ps` shows it to every user of the machine.
DB_URL_ENV = "INFERWATCH_WRITER_DB_URL"
_REASON_CHARS = 2000
_PREVIEW_CHARS_PER_FIELD = 200


def preview(row: Sequence[object]) -> str:
    """A readable start of each field of a row, for the dead-letter table."""
    return "(" + ", ".join(repr(value)[:_PREVIEW_CHARS_PER_FIELD] for value in row) + ")"


def encode_batch(kind: Kind, records: Sequence[NamedTuple]) -> bytes:
    """One spool payload. Plain tuples pickle smaller and load faster than the NamedTuples they come from."""
    return pickle.dumps((kind, [tuple(record) for record in records]), protocol=pickle.HIGHEST_PROTOCOL)


def decode_batch(payload: bytes) -> tuple[Kind, list[tuple[object, ...]]]:
    """The inverse of encode_batch. The spool directory is private to this service (mode 0700)."""
    kind, rows = pickle.loads(payload)  # our own spool, never data from the network
    return kind, rows


class DatabaseWriter:
    """The loop of the writer process: read the spool, commit a batch, move the checkpoint."""

    def __init__(
        self,
        reader: SpoolReader,
        engine: Engine,
        *,
        report: Callable[[dict[str, Any]], None],
        max_batch_bytes: int = 8 * 1024 * 1024,
        inserter: RowInserter | None = None,
    ) -> None:
        self._reader = reader
        self._engine = engine
        self._report = report
        self._max_batch_bytes = max_batch_bytes
        self._inserter = inserter or RowInserter(engine.dialect.name)
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
            unreadable: list[SpoolRecord] = []
            for record in records:
                try:
                    kind, rows = decode_batch(record.payload)
                except Exception:  # a record this code cannot read must not stop the ones behind it
                    unreadable.append(record)
                    continue
                batches[kind].extend(rows)
            if not self._commit_with_retry(batches, unreadable, records[-1].end):
                return

    def quarantine_first(self, reason: str) -> bool:
        """Move the next spool record, unread, to the dead letters; False when the spool is empty."""
        records = self._reader.read(1)
        if not records:
            return False
        record = records[0]
        logger.error("setting aside the spool record ending at %s: %s", record.end, reason)
        while not self.abandon.is_set():
            try:
                with self._engine.begin() as connection:
                    self._set_aside(connection, record, reason)
            except Exception as error:
                if not is_transient(error):
                    raise
                self._note_failure(error)
                self.abandon.wait(1.0)
                continue
            self._reader.commit(record.end)
            self._report(
                {
                    "committed": [record.end.segment, record.end.offset],
                    "rows": {},
                    "dead_lettered": {"spool": 1},
                    "seconds": 0.0,
                }
            )
            return True
        return False

    def _commit_with_retry(self, batches: Batches, unreadable: Sequence[SpoolRecord], end: SpoolPosition) -> bool:
        """Commit the batches, retrying while the database is unavailable; False when told to give up."""
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                dead = self._commit(batches, unreadable)
            except Exception as error:
                if not is_transient(error):
                    raise
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
                    "rows": {kind: len(rows) - dead.get(kind, 0) for kind, rows in batches.items()},
                    "dead_lettered": dead,
                    "unmatched_outcomes": self._unmatched_outcomes(batches.get("outcomes", ())),
                    "seconds": time.perf_counter() - started,
                }
            )
            return True

    def _commit(self, batches: Batches, unreadable: Sequence[SpoolRecord]) -> dict[str, int]:
        """Everything in one transaction, or, when the database refuses some row, the rest without it."""
        dead: dict[str, int] = defaultdict(int)
        for record in unreadable:
            with self._engine.begin() as connection:
                self._set_aside(connection, record, "the spool record cannot be decoded")
            dead["spool"] += 1
        try:
            with self._engine.begin() as connection:
                for kind, rows in batches.items():
                    self._inserter.insert(connection, kind, rows)
        except Exception as error:
            if is_transient(error):
                raise
            logger.warning("the database refused a batch (%s); isolating the rows it refuses", describe_error(error))
            for kind, rows in batches.items():
                self._insert_isolating(kind, rows, dead)
        return dict(dead)

    def _unmatched_outcomes(self, rows: Sequence[tuple[object, ...]]) -> int:
        """How many of these outcomes name a prediction id that is not stored (yet: it may still arrive); the
        first few ids go to the log. The answer to the client warned at accept time already, where it could
        tell (``collector.ingest.outcome_ids``); this counts what is still unmatched once written."""
        if not rows:
            return 0
        ids = {str(row[0]) for row in rows}
        try:
            with self._engine.connect() as connection:
                found = stored_prediction_ids(connection, ids)
        except Exception as error:  # a count for /metrics is not worth failing a commit over
            logger.debug("could not count outcomes without a prediction: %s", describe_error(error))
            return 0
        missing = sorted(ids - found)
        if missing:
            logger.warning(
                "%d outcome(s) name a prediction id that is not stored (yet), e.g. %s",
                len(missing),
                ", ".join(repr(identifier) for identifier in missing[:5]),
            )
        return len(missing)

    def _insert_isolating(self, kind: Kind, rows: list[tuple[object, ...]], dead: dict[str, int]) -> None:
        """Insert ``rows``, halving on refusal until each refused row stands alone in the dead letters."""
        try:
            with self._engine.begin() as connection:
                self._inserter.insert_each(connection, kind, rows)
            return
        except Exception as error:
            if is_transient(error):
                raise
            if len(rows) > 1:
                middle = len(rows) // 2
                self._insert_isolating(kind, rows[:middle], dead)
                self._insert_isolating(kind, rows[middle:], dead)
                return
            (row,) = rows
            reason = describe_error(error)
        logger.error("dead-lettering one %s row the database refuses: %s; row %s", kind, reason, preview(row[:2]))
        with self._engine.begin() as connection:
            self._insert_dead_letter(connection, kind, reason, preview(row), pickle.dumps(row))
        dead[kind] += 1

    def _set_aside(self, connection: Connection, record: SpoolRecord, reason: str) -> None:
        """A whole spool record, unread, into the dead letters (kind ``spool``)."""
        self._insert_dead_letter(connection, "spool", reason, preview((record.payload[:64],)), record.payload)

    @staticmethod
    def _insert_dead_letter(connection: Connection, kind: str, reason: str, shown: str, payload: bytes) -> None:
        connection.execute(
            insert(DeadLetterRow.__table__),  # type: ignore[arg-type]
            {
                "kind": kind,
                "reason": clamp_text(reason, _REASON_CHARS)[0],
                "preview": clamp_text(shown, _REASON_CHARS)[0],
                "payload": payload,
                "created_at": datetime.now(UTC),
            },
        )

    def _note_failure(self, error: BaseException) -> None:
        message = describe_error(error)
        if message != self._last_error:
            logger.warning("database write failed, retrying with back-off: %s", message)
        self._last_error = message
        self._report({"error": message})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the writer process."""
    from collector.core.storage.engine import create_engine_for

    parser = argparse.ArgumentParser(prog="python -m collector.ingest.writer", description=__doc__)
    parser.add_argument("--spool-dir", required=True, type=Path)
    parser.add_argument(
        "--quarantine-first",
        metavar="REASON",
        help="move the first unwritten spool record to the dead letters, unread, before writing the rest",
    )
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

    db_url = os.environ.get(DB_URL_ENV)
    if not db_url:
        parser.error(f"the database URL comes in the environment variable {DB_URL_ENV}, which is not set")
    reader = SpoolReader(args.spool_dir).open()
    engine = create_engine_for(db_url)
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
        if args.quarantine_first:
            writer.quarantine_first(args.quarantine_first)
        writer.run()
    finally:
        engine.dispose()
        reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
