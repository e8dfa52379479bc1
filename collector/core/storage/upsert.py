"""Dialect-aware ``INSERT ... ON CONFLICT`` for the bulk (Core, executemany) write paths.

OTLP exporters retry whole batches, so duplicates are normal traffic, not errors: the ingest path inserts
with ``insert_ignore`` and lets the unique keys drop what was already stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from collector.core.storage.base import Base

TableLike: TypeAlias = Table | type[Base]
# Both subclass sqlalchemy's Insert; the union keeps their ON CONFLICT methods visible to type checkers.
ConflictInsert: TypeAlias = postgresql.Insert | sqlite.Insert


def _table(table: TableLike) -> Table:
    """The Core table behind a mapped class, or the table itself."""
    if isinstance(table, Table):
        return table
    mapped = table.__table__
    if not isinstance(mapped, Table):
        raise TypeError(f"{table.__name__} is not mapped to a single table")
    return mapped


def _insert(table: Table, dialect_name: str) -> ConflictInsert:
    """The dialect's own Insert construct, which knows ON CONFLICT."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"`dialect_name` must be 'postgresql' or 'sqlite', got {dialect_name!r}")


def insert_ignore(table: TableLike, dialect_name: str) -> ConflictInsert:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table``: rows that hit any unique key are skipped.

    Pass ``connection.dialect.name``. Execute it with a list of parameter dicts; duplicates inside one
    batch are dropped as well as duplicates of rows already stored.
    """
    return _insert(_table(table), dialect_name).on_conflict_do_nothing()


def upsert(
    table: TableLike,
    dialect_name: str,
    *,
    index_elements: Sequence[str],
    update_columns: Sequence[str],
) -> ConflictInsert:
    """``INSERT ... ON CONFLICT (index_elements) DO UPDATE`` setting ``update_columns`` to the new values.

    ``index_elements`` must be exactly the columns of one unique constraint or unique index. PostgreSQL
    refuses a single statement that updates the same row twice, so keep keys unique within a batch.
    """
    core = _table(table)
    if not index_elements:
        raise ValueError("`index_elements` must name the columns of a unique key, got none")
    if not update_columns:
        raise ValueError("`update_columns` must name at least one column; use insert_ignore to update none")
    unknown = [name for name in (*index_elements, *update_columns) if name not in core.c]
    if unknown:
        raise ValueError(f"no column {', '.join(map(repr, unknown))} in table {core.name!r}")
    statement = _insert(core, dialect_name)
    return statement.on_conflict_do_update(
        index_elements=list(index_elements),
        set_={name: statement.excluded[name] for name in update_columns},
    )
