"""Positions of background jobs in growing tables (``job_cursors``), kept across restarts and replicas."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from collector.storage.tables import JobCursorRow
from collector.storage.upsert import upsert


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
