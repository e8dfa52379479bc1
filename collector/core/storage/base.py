"""The declarative ``Base`` every table derives from, and the column types the tables share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

# Deterministic constraint names, so a later migration can drop or alter a constraint by name on every
# backend (SQLite and PostgreSQL would otherwise invent different ones, or none).
NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only makes an autoincrementing rowid alias of a column declared exactly INTEGER PRIMARY KEY;
# BIGINT there would be a plain column without autoincrement. PostgreSQL gets a real 64-bit key.
BigIntPK: Final[TypeEngine[int]] = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL: binary, indexable, and it drops duplicate keys instead of storing the text verbatim.
JSONType: Final[TypeEngine[Any]] = JSON().with_variant(postgresql.JSONB(), "postgresql")

# For nullable JSON columns: Python None is SQL NULL rather than the JSON literal 'null', so
# ``column IS NULL`` finds the rows that have no value.
NullableJSONType: Final[TypeEngine[Any]] = JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored and returned in UTC.

    Naive datetimes are refused rather than guessed at: a local time silently taken for UTC is off by
    hours and nothing downstream can tell.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; refuse a naive one."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} has no timezone; pass an aware one, e.g. datetime.now(UTC)"
            )
        utc = value.astimezone(UTC)
        # SQLite's DATETIME text format has no offset field: store the UTC wall time, attach UTC on read.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return UTC-aware datetimes whatever the backend gave back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, aware, in UTC: the default for ``created_at`` columns."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The root of every inferwatch table; its metadata carries the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # A bare ``Mapped[datetime]`` gets UTCDateTime, so a naive timestamp column cannot slip in.
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}
