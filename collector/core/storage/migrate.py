"""The one code path that migrates the database: ``inferwatch db upgrade`` and start-up both call it.

Migrations run on a single connection that is handed to ``env.py`` through ``config.attributes``, inside
one transaction, with every other migrator shut out:

- PostgreSQL: a session-level advisory lock, so replicas that start together migrate one at a time (the
  second finds the schema at head and does nothing). DDL is transactional there, so a failed migration
  leaves the previous schema.
- SQLite: ``BEGIN IMMEDIATE`` takes the write lock up front, which makes the migration atomic and
  serializes processes. Foreign keys are switched off first, because with them on, the table rebuilds
  that batch migrations do would fire ON DELETE CASCADE and empty the child tables; integrity is then
  checked with ``PRAGMA foreign_key_check`` before committing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

import collector
from collector.core.errors import StorageError
from collector.core.storage.engine import create_engine_for, normalize_url

# Any fixed 64-bit number works, as long as nothing else on the server locks the same one; this one is
# "inferwat" in ASCII.
MIGRATION_LOCK_KEY: Final = 0x696E_6665_7277_6174

# Alembic's ``context`` and ``op`` are module-level proxies, so two commands running at once in one
# process (threads, even on different databases) would drive each other's migrations. Taken before the
# database lock, so the two locks are always acquired in the same order.
_PROCESS_LOCK: Final = threading.Lock()


def migrations_dir() -> Path:
    """The Alembic environment: shipped in the wheel as ``collector/_migrations``, else the checkout's."""
    package = Path(collector.__file__).resolve().parent
    candidates = (package / "_migrations", package.parent / "migrations")
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    looked = " and ".join(str(candidate) for candidate in candidates)
    raise StorageError(f"no Alembic migrations found: looked for env.py in {looked}")


def alembic_config(url: str) -> Config:
    """An Alembic Config built in code (no alembic.ini) for the database at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    rendered = normalize_url(url).render_as_string(hide_password=False)
    # The Config is a ConfigParser, which treats % as interpolation: percent-encoded passwords need %%.
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(database: str | Engine, revision: str = "head") -> None:
    """Migrate the database (a URL, or an Engine such as a test's in-memory SQLite) up to ``revision``."""
    _run(database, lambda config: command.upgrade(config, revision))


def downgrade(database: str | Engine, revision: str) -> None:
    """Migrate down to ``revision``; ``"base"`` drops every inferwatch table and its data."""
    _run(database, lambda config: command.downgrade(config, revision))


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has never been migrated (or is at base)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str:
    """The newest revision this version of inferwatch ships (read once: readiness probes ask often)."""
    head = ScriptDirectory(str(migrations_dir())).get_current_head()
    if head is None:
        raise StorageError(f"no migration versions found under {migrations_dir()}")
    return head


def is_at_head(engine: Engine) -> bool:
    """Whether the schema is exactly what this version of inferwatch expects."""
    return current_revision(engine) == head_revision()


def _run(database: str | Engine, apply: Callable[[Config], None]) -> None:
    """Run one Alembic command on one connection, exclusively and in one transaction."""
    engine = create_engine_for(database) if isinstance(database, str) else database
    try:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with _PROCESS_LOCK, engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                with _postgres_lock(connection), connection.begin():
                    config.attributes["connection"] = connection
                    apply(config)
            else:
                with _sqlite_exclusive(connection):
                    config.attributes["connection"] = connection
                    apply(config)
    finally:
        if isinstance(database, str):
            engine.dispose()


@contextmanager
def _postgres_lock(connection: Connection) -> Iterator[None]:
    """Hold the migration advisory lock; session-level, so it outlives any commit a migration makes."""
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()
    with _restoring(connection, f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"):
        yield


@contextmanager
def _sqlite_exclusive(connection: Connection) -> Iterator[None]:
    """One write transaction with foreign keys off; commit only if the result still has integrity."""
    # A no-op inside a transaction, so it has to come before BEGIN.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    with _restoring(connection, "PRAGMA foreign_keys=ON"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
            violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if violations:
                shown = ", ".join(f"{row[0]} rowid {row[1]} -> {row[2]}" for row in violations[:5])
                raise StorageError(
                    f"migration left {len(violations)} rows with dangling foreign keys ({shown}); rolled back"
                )
        except BaseException:
            connection.rollback()
            raise
        connection.commit()


@contextmanager
def _restoring(connection: Connection, statement: str) -> Iterator[None]:
    """Run ``statement`` (which undoes per-session state) after the block, whatever happened in it.

    If it cannot run, the connection is invalidated rather than returned to the pool with the state
    still set (a held lock, foreign keys off); closing the session undoes both. A failure here never
    hides the error that ended the block.
    """
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        try:
            if connection.in_transaction():
                connection.rollback()
            connection.exec_driver_sql(statement)
            connection.commit()
        except Exception:
            connection.invalidate()
            if not failed:
                raise
