"""Drives the real spool and batch writer in-process: what a decoder accepted goes the whole way to the database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import create_engine, text

from collector.core.storage.engine import create_engine_for
from collector.ingest.row_inserts import Kind
from collector.ingest.spool import Spool, SpoolReader
from collector.ingest.writer import DatabaseWriter, encode_batch


def write_through_spool(
    db_url: str, spool_dir: Path, batches: Sequence[tuple[Kind, Sequence[NamedTuple]]]
) -> list[dict[str, Any]]:
    """Append each batch to a spool and let the writer drain it; returns the writer's reports."""
    spool = Spool(spool_dir, max_bytes=1 << 30).open()
    for kind, records in batches:
        if records:
            spool.append(encode_batch(kind, records))
    reader = SpoolReader(spool_dir).open()
    engine = create_engine_for(db_url)
    reports: list[dict[str, Any]] = []
    writer = DatabaseWriter(reader, engine, report=reports.append)
    writer.stopping.set()  # drain what is there, then return
    try:
        writer.run()
        spool.refresh_committed()
        assert spool.pending_bytes == 0, "the writer returned with records left in the spool"
    finally:
        engine.dispose()
        reader.close()
        spool.close()
    return reports


def scalar(db_url: str, query: str, **params: object) -> Any:
    """One value from the database, through an engine of its own."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(query), params).scalar_one()
    finally:
        engine.dispose()
