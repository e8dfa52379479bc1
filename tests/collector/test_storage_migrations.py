"""Migrations: up, down and up again on both backends; the result matches the models; replicas race safely."""

from __future__ import annotations

import ast
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

import collector
from collector.core.errors import StorageError
from collector.core.storage import Base
from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import (
    MIGRATION_LOCK_KEY,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    is_at_head,
    migrations_dir,
    upgrade,
)

LIVE_PACKAGES = {"collector", "detectors", "alerts", "shadow", "inferwatch"}
MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the (initially empty) test database."""
    engine = create_engine_for(db_url)
    yield engine
    engine.dispose()


def schema_diffs(engine: Engine) -> list[object]:
    """What autogenerate would change to make the database match the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def table_names(engine: Engine) -> set[str]:
    """The tables in the database, freshly inspected."""
    return set(inspect(engine).get_table_names())


def test_models_define_every_table() -> None:
    """The metadata the comparisons run against is the full schema, so an empty diff means something."""
    assert {
        "models",
        "model_versions",
        "spans",
        "predictions",
        "outcomes",
        "drift_references",
        "findings",
        "alerts",
        "alert_deliveries",
        "silences",
        "shadow_runs",
        "shadow_variant_results",
        "span_rollups",
        "drift_summaries",
        "alert_groups",
        "alert_cursors",
        "dead_letters",
        "job_cursors",
    } == MODEL_TABLES


def test_upgrade_downgrade_upgrade(db_url: str, engine: Engine) -> None:
    """Head creates every table, base drops them all, and head again recreates them."""
    upgrade(db_url)
    assert table_names(engine) == MODEL_TABLES | {"alembic_version"}
    downgrade(db_url, "base")
    assert table_names(engine) == {"alembic_version"}
    upgrade(db_url)
    assert table_names(engine) == MODEL_TABLES | {"alembic_version"}


def test_migrated_schema_matches_models(db_url: str, engine: Engine) -> None:
    """After upgrade, autogenerate finds nothing to change: columns, types, indexes and keys all agree."""
    assert schema_diffs(engine), "an empty database must differ from the models, or the comparison is blind"
    upgrade(db_url)
    assert schema_diffs(engine) == []


def test_current_revision_and_is_at_head(db_url: str, engine: Engine) -> None:
    """The revision reads None before migrating, head after, and None again at base."""
    assert current_revision(engine) is None
    assert not is_at_head(engine)
    upgrade(db_url)
    assert current_revision(engine) == head_revision()
    assert is_at_head(engine)
    downgrade(db_url, "base")
    assert current_revision(engine) is None
    assert not is_at_head(engine)


def test_upgrade_accepts_an_in_memory_engine() -> None:
    """An Engine can be migrated in place, so an in-memory SQLite database keeps its schema."""
    engine = create_engine_for("sqlite://")
    try:
        upgrade(engine)
        assert is_at_head(engine)
        assert table_names(engine) == MODEL_TABLES | {"alembic_version"}
        with engine.connect() as connection:
            # Migration switches foreign keys off for its own transaction only.
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(migrated_db_url: str) -> None:
    """Start-up migrates every time; on a database at head that changes nothing and does not fail."""
    upgrade(migrated_db_url)
    engine = create_engine_for(migrated_db_url)
    try:
        assert is_at_head(engine)
        assert schema_diffs(engine) == []
    finally:
        engine.dispose()


def test_alembic_config_escapes_percent_in_url() -> None:
    """A percent-encoded password survives ConfigParser interpolation unchanged."""
    url = "postgresql+psycopg://inferwatch:p%40ss%25word@db.example:5432/inferwatch"
    config = alembic_config(url)
    assert config.get_main_option("sqlalchemy.url") == url
    assert config.get_main_option("script_location") == str(migrations_dir())


def test_migrations_dir_is_the_checkout_folder() -> None:
    """From a source checkout the Alembic environment is the top-level migrations/ folder."""
    expected = Path(__file__).resolve().parents[2] / "migrations"
    assert migrations_dir() == expected
    assert not (expected / "__init__.py").exists(), "migrations/ must not be an import package"


def test_migrations_dir_prefers_the_installed_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An installed wheel's collector/_migrations wins; with neither folder the error names both paths."""
    package = tmp_path / "site-packages" / "collector"
    package.mkdir(parents=True)
    monkeypatch.setattr(collector, "__file__", str(package / "__init__.py"))
    with pytest.raises(StorageError, match=re.escape(str(package / "_migrations"))):
        migrations_dir()
    (package / "_migrations").mkdir()
    (package / "_migrations" / "env.py").write_text("")
    assert migrations_dir() == package / "_migrations"


def version_files() -> list[Path]:
    """Every Alembic version script."""
    return sorted((migrations_dir() / "versions").glob("*.py"))


def imported_roots(path: Path) -> set[str]:
    """The top-level package of every import in a Python file, wherever in the file it appears."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_version_files_import_no_live_code() -> None:
    """A version file must keep working after the models change, so it imports none of inferwatch."""
    files = version_files()
    assert files, f"no version files under {migrations_dir() / 'versions'}"
    offenders = {path.name: sorted(imported_roots(path) & LIVE_PACKAGES) for path in files}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_head_is_the_single_tip_of_the_version_files() -> None:
    """Exactly one version has no successor, and head_revision names it."""
    revisions: dict[str, str | None] = {}
    for path in version_files():
        values: dict[str, str | None] = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
                target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
                if isinstance(target, ast.Name) and target.id in {"revision", "down_revision"}:
                    values[target.id] = ast.literal_eval(node.value)
        revision = values["revision"]
        assert revision is not None
        revisions[revision] = values.get("down_revision")
    tips = set(revisions) - set(revisions.values())
    assert tips == {head_revision()}


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgresql(fresh_postgres_url: Callable[[], str]) -> None:
    """Two replicas migrating one PostgreSQL at once both succeed, and the database ends at one head."""
    url = fresh_postgres_url()
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def replica() -> None:
        start.wait()
        try:
            upgrade(url)
        except Exception as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an upgrade is still running after 120 s"
    assert errors == []
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [head_revision()]
        assert schema_diffs(engine) == []
    finally:
        engine.dispose()


WAITING_FOR_ADVISORY_LOCK = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@pytest.mark.postgres
def test_upgrade_waits_for_the_migration_lock(fresh_postgres_url: Callable[[], str]) -> None:
    """While another session holds the migration lock, upgrade waits and changes nothing; then it runs."""
    url = fresh_postgres_url()
    engine = create_engine_for(url)
    errors: list[Exception] = []

    def migrate() -> None:
        try:
            upgrade(url)
        except Exception as error:  # collected and asserted on below
            errors.append(error)

    migrator = threading.Thread(target=migrate)
    try:
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            holder.commit()
            migrator.start()
            deadline = time.monotonic() + 60
            while holder.execute(WAITING_FOR_ADVISORY_LOCK).scalar() != 1:
                holder.commit()
                assert time.monotonic() < deadline, "upgrade never queued on the migration lock"
                time.sleep(0.05)
            holder.commit()
            assert table_names(engine) == set(), "upgrade ran while another session held the lock"
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            holder.commit()
        migrator.join(timeout=120)
        assert not migrator.is_alive()
        assert errors == []
        assert is_at_head(engine)
    finally:
        engine.dispose()


def test_findings_stored_before_revisions_keep_their_place_in_the_alert_cursor(db_url: str, engine: Engine) -> None:
    """Upgrading a database with findings: each gets its id as revision, so the alert engine's stored cursor
    (the largest id it applied) still means the same, and the next finding's revision is above every id."""
    from collector.core.domain import Finding
    from collector.core.findings import FindingFilter, list_findings, store_findings

    upgrade(db_url, "0006")
    with engine.begin() as connection:
        for n in (1, 2, 3):
            connection.execute(
                text(
                    "INSERT INTO findings (id, model_name, model_version, detector, subject, severity, firing, "
                    "window_start, window_end, summary, details, created_at) VALUES (:id, 'fraud', '1', 'latency', "
                    ":subject, 'warning', :firing, :start, :end, 's', '{}', :start)"
                ),
                {
                    "id": n * 10,
                    "subject": f"op{n}",
                    "firing": True,
                    "start": f"2026-11-0{n} 10:00:00.000000",
                    "end": f"2026-11-0{n} 11:00:00.000000",
                },
            )
    upgrade(db_url)
    assert sorted((f.id, f.revision) for f in list_findings(engine, FindingFilter())) == [(10, 10), (20, 20), (30, 30)]
    existing = list_findings(engine, FindingFilter())[0]
    store_findings(engine, [Finding(**{**existing.__dict__, "subject": "new", "id": None, "revision": None})])
    (new,) = [f for f in list_findings(engine, FindingFilter()) if f.subject == "new"]
    assert new.revision is not None
    assert new.revision > 30
