"""Fixtures for the whole suite: empty and migrated databases on SQLite and on PostgreSQL.

PostgreSQL tests use the server named by INFERWATCH_TEST_POSTGRES_URL, each on a database of its own
that is dropped afterwards. Without that server they skip, except under CI, where a missing database
would otherwise turn half the storage tests into silent skips.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.core.storage.engine import normalize_url
from collector.core.storage.migrate import upgrade
from tests.shadow.ray_cluster import RayTestCluster, start_ray_cluster

POSTGRES_URL_ENV = "INFERWATCH_TEST_POSTGRES_URL"
TEST_DATABASE_PREFIX = "inferwatch_test_"


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; fail under CI, where PostgreSQL is part of the job."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(reason)


class PostgresAdmin:
    """Creates and drops throwaway databases on the test server, remembering what it created."""

    def __init__(self, server_url: URL) -> None:
        self.server_url = server_url
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        self.engine: Engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.created: set[str] = set()

    def create_database(self) -> str:
        """A new empty database; returns its psycopg URL."""
        name = TEST_DATABASE_PREFIX + secrets.token_hex(6)
        with self.engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.created.add(name)
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, name: str) -> None:
        """Drop a database this run created, disconnecting whoever still uses it."""
        with self.engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.discard(name)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The test PostgreSQL server's URL (psycopg driver), after checking that it answers."""
    raw = os.environ.get(POSTGRES_URL_ENV, "")
    if not raw:
        _unavailable(f"{POSTGRES_URL_ENV} is not set")
    try:
        url = normalize_url(raw)
    except ValueError as error:
        pytest.fail(f"{POSTGRES_URL_ENV} is not a usable URL: {error}", pytrace=False)
    if url.get_backend_name() != "postgresql":
        pytest.fail(f"{POSTGRES_URL_ENV} must name a PostgreSQL server, got {url.drivername}://", pytrace=False)
    probe = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        shown = url.render_as_string(hide_password=True)
        cause = error.__cause__ or error  # the driver's exception says why (refused, auth, timeout)
        _unavailable(f"PostgreSQL at {shown} is unreachable: {type(cause).__name__}: {str(cause).splitlines()[0]}")
    finally:
        probe.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin(postgres_server_url: str) -> Iterator[PostgresAdmin]:
    """The session's database factory; drops anything a test's teardown left behind."""
    admin = PostgresAdmin(normalize_url(postgres_server_url))
    yield admin
    for name in sorted(admin.created):
        admin.drop_database(name)
    admin.engine.dispose()


@pytest.fixture
def fresh_postgres_url(postgres_admin: PostgresAdmin) -> Iterator[Callable[[], str]]:
    """Call it for a new empty PostgreSQL database; each one is dropped when the test ends."""
    mine: list[str] = []

    def create() -> str:
        url = postgres_admin.create_database()
        database = normalize_url(url).database
        assert database is not None
        mine.append(database)
        return url

    yield create
    for name in mine:
        postgres_admin.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inferwatch.db'}"
    create: Callable[[], str] = request.getfixturevalue("fresh_postgres_url")
    return create()


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    """``db_url`` migrated to the head revision."""
    upgrade(db_url)
    return db_url


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayTestCluster]:
    """A three-node local Ray cluster (class cpu-a on two nodes, cpu-b on one), started once per session:
    one driver per process, so the shadow and the service tests share it."""
    yield from start_ray_cluster()
