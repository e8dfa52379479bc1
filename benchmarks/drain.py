"""How long the writer takes to drain a backlog of acknowledged spans from the spool into the database.

A backlog builds while the database is away (an outage, a failover, a long migration): clients keep getting
OK answers and the spool fills. This fills a spool with ``--spans`` realistic inference spans (the ingest
benchmark's 512-span requests, decoded by the real decoder, with fresh ids and times), then runs the real
writer (``DatabaseWriter``, in this process) until the spool is empty, on each database:

* SQLite (a fresh file): ``executemany``;
* PostgreSQL: the writer's bulk path (``COPY`` into a staging table, one ``INSERT ... SELECT``), against the
  baseline of the same writer binding each row (``executemany``, what it did before), in the same run.

    python benchmarks/drain.py [--spans 1000000] [--postgres-url URL] [--skip-sqlite]

The table gives drained rows, seconds, rows per second and the writer's CPU time per row (the database
server's own work is not in it: on PostgreSQL it is a separate process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.ingest import END_MARK, MARKER, START_MARK, span_request
from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import upgrade
from collector.ingest.otlp_traces import SpanDecodeOptions, decode_export_trace_request
from collector.ingest.row_inserts import Kind, RowInserter
from collector.ingest.spool import Spool, SpoolReader
from collector.ingest.writer import DatabaseWriter, encode_batch

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class RowByRowInserter(RowInserter):
    """The baseline: every batch bound row by row, as the writer did before its PostgreSQL bulk path."""

    def insert(self, connection: Connection, kind: Kind, rows: Sequence[tuple[object, ...]]) -> None:
        self.insert_each(connection, kind, rows)


def fill_spool(directory: Path, spans: int) -> int:
    """Append decoded requests until ``spans`` spans are spooled; returns how many."""
    template = span_request()
    spool = Spool(directory, max_bytes=1 << 40).open()
    options = SpanDecodeOptions()
    written = 0
    number = 0
    started = time.time_ns()
    try:
        while written < spans:
            number += 1
            # Times increase as they would in a real backlog: one request per millisecond.
            start = started + number * 1_000_000
            payload = (
                template.replace(MARKER, number.to_bytes(len(MARKER), "big"))
                .replace(START_MARK.to_bytes(8, "little"), start.to_bytes(8, "little"))
                .replace(END_MARK.to_bytes(8, "little"), (start + 250_000_000).to_bytes(8, "little"))
            )
            records = decode_export_trace_request(ExportTraceServiceRequest.FromString(payload), options).records
            records = records[: spans - written]
            spool.append(encode_batch("spans", records))
            written += len(records)
    finally:
        spool.close()
    return written


def drain(spool_template: Path, workdir: Path, db_url: str, inserter: RowInserter | None) -> tuple[int, float, float]:
    """Drain a copy of the spool into a migrated database: rows stored, wall seconds, writer CPU seconds."""
    spool_dir = workdir / "spool"
    shutil.rmtree(spool_dir, ignore_errors=True)
    shutil.copytree(spool_template, spool_dir)
    upgrade(db_url)
    engine = create_engine_for(db_url)
    reader = SpoolReader(spool_dir).open()
    writer = DatabaseWriter(reader, engine, report=lambda event: None, inserter=inserter)
    writer.stopping.set()  # drain what is there, then return
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        writer.run()
    finally:
        reader.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    with engine.connect() as connection:
        stored = int(connection.execute(text("SELECT COUNT(*) FROM spans")).scalar_one())
    engine.dispose()
    return stored, seconds, cpu


def postgres_database(server_url: str, name: str) -> str:
    """A fresh database on the server; returns its URL."""
    url = make_url(server_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, name: str) -> None:
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000, help="backlog size (default 1,000,000)")
    parser.add_argument("--postgres-url", default=os.environ.get("INFERWATCH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        template = workdir / "spool-template"
        started = time.perf_counter()
        spooled = fill_spool(template, args.spans)
        size_mib = sum(path.stat().st_size for path in template.iterdir()) / (1 << 20)
        print(f"spooled {spooled:,} spans ({size_mib:,.0f} MiB) in {time.perf_counter() - started:.1f} s", flush=True)
        runs: list[tuple[str, str, RowInserter | None]] = []
        if not args.skip_sqlite:
            runs.append(("SQLite file, executemany", f"sqlite:///{workdir / 'drain.db'}", None))
        postgres_runs: list[tuple[str, RowInserter | None]] = [
            ("PostgreSQL, row by row (baseline)", RowByRowInserter("postgresql")),
            ("PostgreSQL, COPY + INSERT SELECT", None),
        ]
        for label, inserter in postgres_runs:
            name = f"inferwatch_drain_{os.getpid()}_{len(runs)}"
            runs.append((label, postgres_database(args.postgres_url, name), inserter))
        try:
            for label, url, inserter in runs:
                stored, seconds, cpu = drain(template, workdir, url, inserter)
                rows.append((label, stored, seconds, cpu))
                print(f"  {label}: {stored:,} rows in {seconds:.1f} s", flush=True)
        finally:
            for _, url, _ in runs:
                if url.startswith("postgresql"):
                    drop_postgres_database(args.postgres_url, make_url(url).database or "")

    load = os.getloadavg()[0]
    print(f"\nmachine: {os.cpu_count()} CPUs; load average {load:.2f} at the end; backlog {spooled:,} spans")
    header = f"{'database, insert':<36} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'writer CPU us/row':>18}"
    print(header)
    print("-" * len(header))
    for label, stored, seconds, cpu in rows:
        print(f"{label:<36} {stored:>10,} {seconds:>8.1f} {stored / seconds:>9,.0f} {cpu * 1e6 / stored:>18.1f}")


if __name__ == "__main__":
    main()
