"""Alembic environment for inferwatch.

inferwatch runs migrations through ``collector.core.storage.migrate``, which passes an open connection (already
locked and inside a transaction) in ``config.attributes["connection"]``. Run directly by the ``alembic``
command instead, this file builds its own engine from ``sqlalchemy.url``.
"""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import Connection, MetaData, create_engine, pool

logger = logging.getLogger("inferwatch.migrations")


def _target_metadata() -> MetaData | None:
    """The models' metadata, for autogenerate; upgrades do not need it, so its absence is not fatal."""
    try:
        from collector.core.storage import Base
    except ImportError as error:
        logger.warning("autogenerate unavailable: cannot import collector.core.storage (%s)", error)
        return None
    return Base.metadata


target_metadata = _target_metadata()


def _configure(connection: Connection) -> None:
    """Settings shared by every online run."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Print the SQL (``alembic upgrade --sql``) instead of running it."""
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the connection we were given, or on a fresh one from the configured URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or pass config.attributes['connection']")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as own_connection:
            _configure(own_connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
