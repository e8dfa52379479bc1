"""Engines and sessions for the two supported stores: a SQLite file and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Final

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from collector.core.errors import StorageError

# WAL lets readers (detectors, the HTTP API) run while the batch writer writes; NORMAL is durable across
# process crashes in WAL mode and only risks the last commits on power loss; the busy timeout makes
# concurrent writers wait instead of failing at once; SQLite leaves foreign keys off unless asked.
SQLITE_PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)
_MEMORY_PRAGMAS: Final = ("PRAGMA busy_timeout=10000", "PRAGMA foreign_keys=ON")

_POSTGRES_DRIVER: Final = "postgresql+psycopg"
# What people paste from hosting dashboards and libpq docs; both mean psycopg 3 here.
_POSTGRES_ALIASES: Final = frozenset({"postgres", "postgresql", _POSTGRES_DRIVER})
_SQLITE_DRIVERS: Final = frozenset({"sqlite", "sqlite+pysqlite"})

# allow_nan=False: PostgreSQL refuses the NaN token in JSON while SQLite would store it, so a non-finite
# number would work in development and fail in production. Refuse it on both.
_json_serializer = functools.partial(json.dumps, allow_nan=False, separators=(",", ":"))


def normalize_url(url: str) -> URL:
    """Parse a database URL, rewriting PostgreSQL spellings to the psycopg 3 driver.

    Raises ``ValueError`` naming the scheme when the URL is not SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ValueError(f"not a database URL: {error}") from None
    scheme = parsed.drivername
    if scheme in _POSTGRES_ALIASES:
        return parsed.set(drivername=_POSTGRES_DRIVER)
    if scheme in _SQLITE_DRIVERS:
        return parsed
    if parsed.get_backend_name() in {"postgresql", "postgres"}:
        raise ValueError(
            f"unsupported PostgreSQL driver in URL scheme {scheme!r}: inferwatch uses psycopg 3, "
            f"write {_POSTGRES_DRIVER}://USER@HOST/DB"
        )
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH or {_POSTGRES_DRIVER}://USER@HOST/DB"
    )


def is_sqlite_memory(url: URL) -> bool:
    """Whether a SQLite URL names a private in-memory database rather than a file."""
    database = url.database or ""
    return database in {"", ":memory:"} or (url.query.get("mode") == "memory" or database.startswith("file::memory:"))


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL, resolved; None for PostgreSQL, in-memory and ``uri=true`` URLs."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite" or is_sqlite_memory(parsed) or parsed.query.get("uri") == "true":
        return None
    return Path(parsed.database or "").resolve()


def create_engine_for(url: str) -> Engine:
    """An Engine for ``url`` with the settings inferwatch relies on.

    SQLite gets WAL, ``synchronous=NORMAL``, a 10 s busy timeout and foreign keys on every connection.
    PostgreSQL connections are pinged before use, so a restarted server costs no failed request.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True, json_serializer=_json_serializer)


def _create_sqlite_engine(url: URL) -> Engine:
    """A SQLite engine whose connections all carry the pragmas; a missing directory is named up front."""
    memory = is_sqlite_memory(url)
    if not memory and url.query.get("uri") != "true":
        parent = Path(url.database or "").absolute().parent
        if not parent.is_dir():
            # sqlite3 would only say "unable to open database file", which names neither path nor cause.
            raise StorageError(
                f"cannot open SQLite database {url.database!r}: directory {str(parent)!r} does not exist"
            )
    engine = create_engine(url, json_serializer=_json_serializer)
    pragmas = _MEMORY_PRAGMAS if memory else SQLITE_PRAGMAS

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit, since callers hand them on."""
    return sessionmaker(bind=engine, expire_on_commit=False)
