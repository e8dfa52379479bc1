"""Positions of background jobs in growing tables (``job_cursors``), kept across restarts and replicas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from collector.core.storage.tables import JobCursorRow
from collector.core.storage.upsert import upsert

SEEN_SUFFIX = ".seen"


def read_cursor(connection: Connection, name: str) -> int | None:
    """The stored position of job ``name``, or None before its first run."""
    value = connection.execute(select(JobCursorRow.position).where(JobCursorRow.name == name)).scalar_one_or_none()
    return None if value is None else int(value)


def write_cursor(connection: Connection, name: str, position: int) -> None:
    """Store the position of job ``name``."""
    statement = upsert(
        JobCursorRow, connection.dialect.name, index_elements=("name",), update_columns=("position", "updated_at")
    )
    connection.execute(statement, {"name": name, "position": position, "updated_at": datetime.now(UTC)})


@dataclass(frozen=True)
class IdWindow:
    """The rows ``(start_id, end_id]`` of a growing table that a job reads in one run.

    A run starts from where the run before the last one stopped (``start_id``), not from where the last one
    stopped (``seen``): on PostgreSQL a row can commit after rows with higher ids are visible, and reading the
    last run's rows again catches it. Jobs recompute idempotently, so reading a row twice is harmless.
    """

    name: str
    start_id: int
    seen: int
    end_id: int


def next_window(connection: Connection, name: str, top_id: int | None, max_rows: int) -> IdWindow | None:
    """The next rows job ``name`` reads, at most ``max_rows`` past what it has seen; None when nothing is new."""
    start_id = read_cursor(connection, name) or 0
    seen = read_cursor(connection, name + SEEN_SUFFIX) or start_id
    if top_id is None or top_id <= start_id:
        return None
    return IdWindow(name, start_id, seen, min(top_id, max(seen, start_id) + max_rows))


def advance(connection: Connection, window: IdWindow) -> None:
    """Record that ``window`` was read."""
    write_cursor(connection, window.name, max(window.start_id, min(window.seen, window.end_id)))
    write_cursor(connection, window.name + SEEN_SUFFIX, window.end_id)


def seen_through(connection: Connection, name: str) -> int | None:
    """The highest id job ``name`` has read."""
    return read_cursor(connection, name + SEEN_SUFFIX)
