"""Tables, column types, engines and bulk upserts, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from collector.core.errors import StorageError
from collector.core.storage import (
    AlertCursorRow,
    AlertDeliveryRow,
    AlertGroupRow,
    AlertRow,
    Base,
    DeadLetterRow,
    DriftReferenceRow,
    DriftSummaryRow,
    FindingRow,
    JobCursorRow,
    ModelRow,
    ModelVersionRow,
    OutcomeRow,
    PredictionRow,
    ShadowRunRow,
    ShadowVariantResultRow,
    SilenceRow,
    SpanRollupRow,
    SpanRow,
    UTCDateTime,
    create_engine_for,
    insert_ignore,
    make_session_factory,
    upsert,
)

# Deliberately not UTC, so every round trip also checks the conversion.
PLUS_TWO = timezone(timedelta(hours=2))
WHEN = datetime(2025, 3, 14, 15, 9, 26, 535_897, tzinfo=PLUS_TWO)
NANOS = 1_741_957_766_535_897_932


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """The session factory the service uses."""
    return make_session_factory(engine)


def at(minutes: int) -> datetime:
    """A distinct aware timestamp near WHEN."""
    return WHEN + timedelta(minutes=minutes)


def a_model(session: Session) -> ModelRow:
    """A model row with every column set."""
    return ModelRow(name="fraud-scorer", description="Scores card transactions ✓", created_at=at(1))


def a_model_version(session: Session) -> ModelVersionRow:
    """A model version row, under a freshly stored model."""
    model = a_model(session)
    session.add(model)
    session.flush()
    return ModelVersionRow(
        model_id=model.id,
        version="2025-03-14.1",
        artifact_uri="s3://models/fraud/2025-03-14.1/model.onnx",
        artifact_sha256="ab" * 32,
        artifact_format="onnx",
        hardware_class="gpu-a10",
        task="classification",
        class_labels=["legit", "fraud"],
        metadata_={"trained_on": "2025-03-01", "auc": 0.93, "tags": ["prod"]},
        created_at=at(2),
    )


def a_span(session: Session) -> SpanRow:
    """A span row with every column set."""
    return SpanRow(**span_values(0))


def span_values(index: int, start: int = NANOS) -> dict[str, Any]:
    """Column values for one inference span; the index makes its span id unique."""
    return {
        "trace_id": bytes(range(16)),
        "span_id": index.to_bytes(8, "big"),
        "parent_span_id": b"\xff" * 8,
        "name": "POST /predict",
        "kind": 2,
        "service_name": "fraud-api",
        "model_name": "fraud-scorer",
        "model_version": "2025-03-14.1",
        "operation": "predict",
        "provider": "onnxruntime",
        "hardware_class": "cpu",
        "start_unix_nano": start,
        "end_unix_nano": start + 4_200_000,
        "status_code": 2,
        "error_type": "TimeoutError",
        "input_tokens": 512,
        "output_tokens": 64,
        "is_inference": True,
        "raw": b"\x0a\x10" + bytes(range(16)),
    }


def a_prediction(session: Session) -> PredictionRow:
    """A prediction row with every column set."""
    return PredictionRow(**prediction_values("pred-1"))


def prediction_values(prediction_id: str) -> dict[str, Any]:
    """Column values for one prediction."""
    return {
        "prediction_id": prediction_id,
        "model_name": "fraud-scorer",
        "model_version": "2025-03-14.1",
        "ts_unix_nano": NANOS,
        "received_unix_nano": NANOS + 1_000,
        "features": {"amount": 12.5, "country": "DE", "age": None, "n": 3},
        "outputs": {"score": 0.81, "label": "fraud"},
        "raw_inputs": b"\x00\x01tensor",
        "trace_id": bytes(range(16)),
        "span_id": bytes(range(8)),
        "attributes": {"tenant": "acme"},
        "latency_ms": 4.2,
        "non_finite_count": 1,
    }


def an_outcome(session: Session) -> OutcomeRow:
    """An outcome row with every column set."""
    return OutcomeRow(
        prediction_id="pred-1",
        model_name="fraud-scorer",
        ts_unix_nano=NANOS + 86_400 * 10**9,
        received_unix_nano=NANOS + 86_401 * 10**9,
        actual={"label": "legit"},
    )


def a_reference(session: Session) -> DriftReferenceRow:
    """A drift reference row with every column set."""
    return DriftReferenceRow(
        model_name="fraud-scorer",
        model_version="2025-03-14.1",
        name="launch-week",
        source="time_range",
        range_start=at(-7 * 24 * 60),
        range_end=at(0),
        source_path="/data/reference.parquet",
        row_count=1_250_000,
        features=[{"name": "amount", "type": "numeric"}, {"name": "country", "type": "categorical"}],
        fitted=b"\x93NUMPY" + bytes(100),
        created_at=at(3),
    )


def a_drift_summary(session: Session) -> DriftSummaryRow:
    """A drift summary row, under a freshly stored reference."""
    reference = a_reference(session)
    session.add(reference)
    session.flush()
    return DriftSummaryRow(
        reference_id=reference.id,
        bucket_s=300,
        bucket_start_unix_s=1_763_000_100,
        rows=412,
        source_rows=5_000_000_000,
        summary=b'{"rows":412,"features":{},"outputs":{},"reconstruction":null}',
        created_at=at(4),
    )


def a_finding(session: Session) -> FindingRow:
    """A finding row with every column set."""
    return FindingRow(**finding_values(window_start=at(-60), value=0.31))


def finding_values(window_start: datetime, value: float) -> dict[str, Any]:
    """Column values for one finding over the hour from ``window_start``."""
    return {
        "model_name": "fraud-scorer",
        "model_version": "2025-03-14.1",
        "detector": "ks_drift",
        "subject": "amount",
        "severity": "warning",
        "firing": True,
        "window_start": window_start,
        "window_end": window_start + timedelta(hours=1),
        "value": value,
        "expected": 0.05,
        "band_low": 0.0,
        "band_high": 0.1,
        "summary": "amount drifted",
        "details": {"p_value": 1e-9, "n": 5000},
        "since": at(-120),
        "created_at": at(4),
    }


def an_alert(session: Session) -> AlertRow:
    """An alert row pointing at a freshly stored finding."""
    finding = a_finding(session)
    session.add(finding)
    session.flush()
    return AlertRow(
        fingerprint="f" * 64,
        labels={"alertname": "DataDrift", "model": "fraud-scorer"},
        annotations={"summary": "amount drifted"},
        state="firing",
        starts_at=at(5),
        ends_at=at(65),
        updated_at=at(6),
        pending_since=at(4),
        last_finding_id=finding.id,
        acked_by="oncall@example.com",
        acked_at=at(7),
        ack_comment="looking",
        last_firing_at=at(6),
    )


def a_delivery(session: Session) -> AlertDeliveryRow:
    """An alert delivery row, under a freshly stored alert."""
    alert = an_alert(session)
    session.add(alert)
    session.flush()
    return AlertDeliveryRow(
        alert_id=alert.id,
        sink="slack-oncall",
        status="firing",
        state="retrying",
        attempts=3,
        next_attempt_at=at(8),
        last_error="HTTP 503",
        payload={"text": "DataDrift firing"},
        created_at=at(5),
        sent_at=at(9),
        locked_by="replica-2",
        locked_until=at(10),
        notification_id="9a1c3f4e-2b7d-4e8a-9c0f-1d2e3f4a5b6c",
        group_id=1,
    )


def an_alert_group(session: Session) -> AlertGroupRow:
    """An aggregation group row with every column set."""
    return AlertGroupRow(
        receiver="slack-oncall",
        key_hash="a" * 64,
        group_key='0:{alertname="DataDrift", model="fraud-scorer"}',
        group_labels={"alertname": "DataDrift", "model": "fraud-scorer"},
        next_flush_at=at(11),
        last_notified_at=at(10),
        notified_firing=["f" * 16],
        notified_resolved=["e" * 16],
        created_at=at(5),
    )


def an_alert_cursor(session: Session) -> AlertCursorRow:
    """The alert engine's position in the findings."""
    return AlertCursorRow(name="findings", position=42, updated_at=at(12))


def a_silence(session: Session) -> SilenceRow:
    """A silence row with every column set."""
    return SilenceRow(
        id="4b5e8f0c-0f7d-4c1e-9d7a-3f2b1c0d9e8a",
        matchers=[{"name": "model", "value": "fraud-.*", "is_regex": True, "is_equal": True}],
        starts_at=at(0),
        ends_at=at(120),
        created_by="sre@example.com",
        comment="retraining",
        created_at=at(0),
        expired_at=at(60),
    )


def a_shadow_run(session: Session) -> ShadowRunRow:
    """A shadow run row with every column set."""
    return ShadowRunRow(
        id="0e7c2a4e-8a59-4d0e-b3a5-6c1f1d2e3f40",
        model_name="fraud-scorer",
        model_version="2025-03-14.1",
        state="succeeded",
        request={"variants": ["int8-dynamic", "fp16"], "requests": 10_000, "batch_size": 32},
        phase="report",
        progress_done=10_000,
        progress_total=10_000,
        recommendation={"switch_to": "int8-dynamic", "p95_latency_change": -0.41},
        error="variant fp16 failed on CPU",
        created_at=at(0),
        started_at=at(1),
        finished_at=at(30),
        claimed_by="replica-1",
        heartbeat_at=at(29),
        interruptions=1,
        notes=["2025-03-14 10:00:05 UTC: taken over by replica-1: the lease of replica-0 expired"],
        parts=[{"key": "baseline", "state": "done", "done": 10_000, "total": 10_000, "node_id": "a1b2"}],
        report_html="<!doctype html><title>fraud-scorer shadow run</title>",
    )


def a_variant_result(session: Session) -> ShadowVariantResultRow:
    """A shadow variant result row, under a freshly stored shadow run."""
    run = a_shadow_run(session)
    session.add(run)
    session.flush()
    return ShadowVariantResultRow(
        run_id=run.id,
        name="int8-dynamic",
        execution_provider="CPUExecutionProvider",
        hardware_class="cpu",
        metrics={"latency_ms": {"p50": 1.9, "p95": 3.1}, "quality": {"auc_delta": -0.001}},
        error="",
        created_at=at(31),
    )


def a_span_rollup(session: Session) -> SpanRollupRow:
    """A one-minute span rollup row."""
    return SpanRollupRow(
        model_name="fraud",
        model_version="7",
        operation="predict",
        hardware_class="cpu",
        interval_s=60,
        bucket_start_unix_s=1_700_000_040,
        requests=120,
        errors=2,
        busy_ns=9_000_000_000,
        input_tokens=0,
        output_tokens=0,
        latency_sketch=b'{"g":1.02,"b":[[232,120]]}',
        p50_ms=98.5,
        p95_ms=98.5,
        p99_ms=98.5,
        updated_at=at(32),
    )


def a_dead_letter(session: Session) -> DeadLetterRow:
    """A span row the database refused, with the reason."""
    return DeadLetterRow(
        kind="spans",
        reason="DataError: value too long for type character varying(128)",
        preview="(b'\\x01', b'\\x02')",
        payload=b"\x80\x05N.",
        created_at=at(33),
    )


def a_job_cursor(session: Session) -> JobCursorRow:
    """The rollup job's place in the spans table."""
    return JobCursorRow(name="span_rollups", position=12_345, updated_at=at(34))


ROW_FACTORIES: dict[str, Callable[[Session], Base]] = {
    "dead_letters": a_dead_letter,
    "job_cursors": a_job_cursor,
    "models": a_model,
    "model_versions": a_model_version,
    "spans": a_span,
    "predictions": a_prediction,
    "outcomes": an_outcome,
    "drift_references": a_reference,
    "findings": a_finding,
    "alerts": an_alert,
    "alert_deliveries": a_delivery,
    "silences": a_silence,
    "alert_groups": an_alert_group,
    "alert_cursors": an_alert_cursor,
    "shadow_runs": a_shadow_run,
    "shadow_variant_results": a_variant_result,
    "span_rollups": a_span_rollup,
    "drift_summaries": a_drift_summary,
}


def column_values(row: Base) -> dict[str, Any]:
    """Every mapped column attribute of a row, by attribute name."""
    return {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}


def test_every_table_has_a_row_factory() -> None:
    """A table added to the models is round-tripped too, or this fails."""
    assert set(ROW_FACTORIES) == set(Base.metadata.tables)


@pytest.mark.parametrize("table", sorted(ROW_FACTORIES))
def test_row_round_trips(sessions: sessionmaker[Session], table: str) -> None:
    """A row with every column set reads back equal, timestamps as UTC-aware datetimes."""
    with sessions() as session:
        row = ROW_FACTORIES[table](session)
        assert type(row).__tablename__ == table
        session.add(row)
        session.commit()
        written = column_values(row)
        key = inspect(row).identity
    assert [name for name, value in written.items() if value is None] == [], "set every column"
    with sessions() as session:
        stored = session.get(type(row), key)
        assert stored is not None
        read = column_values(stored)
    assert read == written
    timestamps = [value for value in read.values() if isinstance(value, datetime)]
    assert all(value.tzinfo is UTC for value in timestamps)


def test_defaults_fill_optional_columns(sessions: sessionmaker[Session]) -> None:
    """Columns with defaults can be left out, and created_at is an aware UTC now."""
    before = datetime.now(UTC)
    with sessions() as session:
        model = ModelRow(name="m")
        session.add(model)
        session.flush()
        version = ModelVersionRow(model_id=model.id, version="1", artifact_uri="file:///m.onnx", artifact_sha256="0")
        run = ShadowRunRow(model_name="m", model_version="1", request={})
        session.add_all([version, run])
        session.commit()
    with sessions() as session:
        version = session.get_one(ModelVersionRow, version.id)
        run = session.get_one(ShadowRunRow, run.id)
    assert (version.artifact_format, version.hardware_class, version.task) == ("onnx", "cpu", "unspecified")
    assert (version.class_labels, version.metadata_) == ([], {})
    assert (run.state, run.phase, run.progress_done, run.recommendation) == ("queued", "", 0, None)
    assert len(run.id) == 36
    assert before <= version.created_at <= datetime.now(UTC)
    assert version.created_at.tzinfo is UTC


def test_utc_datetime_converts_and_attaches_utc() -> None:
    """Aware values are stored as UTC; values read back are aware UTC, naive ones taken as UTC."""
    column_type = UTCDateTime()
    dialect = sqlite.dialect()
    assert column_type.process_bind_param(WHEN, dialect) == datetime(2025, 3, 14, 13, 9, 26, 535_897)
    naive = datetime(2025, 3, 14, 13, 9, 26)
    assert column_type.process_result_value(naive, dialect) == naive.replace(tzinfo=UTC)
    converted = column_type.process_result_value(WHEN, dialect)
    assert converted is not None
    assert converted.tzinfo is UTC
    assert converted == WHEN


def test_utc_datetime_rejects_naive_datetimes() -> None:
    """A naive datetime is refused with a message that says what is wrong."""
    with pytest.raises(ValueError, match="naive datetime 2025-03-14T15:09:26 has no timezone"):
        UTCDateTime().process_bind_param(datetime(2025, 3, 14, 15, 9, 26), sqlite.dialect())


def test_naive_datetime_is_refused_on_write(sessions: sessionmaker[Session]) -> None:
    """Writing a naive timestamp fails instead of storing a time in an unknown zone."""
    with sessions() as session:
        session.add(ModelRow(name="m", created_at=datetime(2025, 3, 14, 15, 9, 26)))
        with pytest.raises(StatementError, match="has no timezone") as raised:
            session.flush()
    assert isinstance(raised.value.orig, ValueError)


def test_timestamp_comparisons_use_utc(sessions: sessionmaker[Session]) -> None:
    """Filters compare instants, whatever zone the stored values and the bound were given in."""
    tokyo, new_york = timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))
    instants = [datetime(2025, 1, 1, 12, tzinfo=UTC) + timedelta(hours=hour) for hour in range(4)]
    with sessions() as session:
        for hour, instant in enumerate(instants):
            values = finding_values(window_start=instant.astimezone(tokyo if hour % 2 else new_york), value=1)
            session.add(FindingRow(**values))
        session.commit()
        bound = instants[2].astimezone(timezone(timedelta(hours=5, minutes=30)))
        later = session.scalars(select(FindingRow.window_start).where(FindingRow.window_start >= bound)).all()
    assert sorted(later) == instants[2:]


def count(engine: Engine, table: type[Base]) -> int:
    """Rows in a table."""
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_insert_ignore_stores_duplicate_spans_once(engine: Engine) -> None:
    """A retried OTLP batch, and a span repeated inside one batch, are stored once."""
    first = [span_values(index) for index in (1, 2, 2, 3)]
    retry = [span_values(index) for index in (3, 4)]
    with engine.begin() as connection:
        statement = insert_ignore(SpanRow, connection.dialect.name)
        connection.execute(statement, first)
        connection.execute(statement, retry)
    assert count(engine, SpanRow) == 4
    with engine.connect() as connection:
        ids = connection.execute(select(SpanRow.span_id).order_by(SpanRow.span_id)).scalars().all()
    assert ids == [index.to_bytes(8, "big") for index in (1, 2, 3, 4)]


def test_insert_ignore_keys_spans_by_trace_as_well(engine: Engine) -> None:
    """The same span id in another trace is another span, not a duplicate."""
    other_trace = span_values(1) | {"trace_id": b"\x01" * 16}
    with engine.begin() as connection:
        connection.execute(insert_ignore(SpanRow, connection.dialect.name), [span_values(1), other_trace])
    assert count(engine, SpanRow) == 2


def test_insert_ignore_stores_duplicate_predictions_once(engine: Engine) -> None:
    """Predictions are idempotent on prediction_id, within a batch and across batches."""
    with engine.begin() as connection:
        statement = insert_ignore(PredictionRow, connection.dialect.name)
        connection.execute(statement, [prediction_values(pid) for pid in ("a", "b", "a")])
        connection.execute(statement, [prediction_values(pid) for pid in ("b", "c")])
    assert count(engine, PredictionRow) == 3


def test_upsert_updates_the_existing_row(engine: Engine) -> None:
    """Re-evaluating a finding's window replaces its value instead of adding a row."""
    key = ["detector", "model_name", "model_version", "subject", "window_start", "window_end"]
    with engine.begin() as connection:
        statement = upsert(FindingRow, connection.dialect.name, index_elements=key, update_columns=["value"])
        connection.execute(statement, [finding_values(at(0), value=0.1)])
        connection.execute(statement, [finding_values(at(0), value=0.7), finding_values(at(60), value=0.2)])
    with engine.connect() as connection:
        rows = connection.execute(select(FindingRow.window_start, FindingRow.value).order_by("window_start")).all()
    assert [(start, value) for start, value in rows] == [(at(0), 0.7), (at(60), 0.2)]


def test_upsert_and_insert_ignore_validate_arguments() -> None:
    """Unknown columns, an empty update and an unsupported dialect are named in the error."""
    with pytest.raises(ValueError, match="no column 'nope' in table 'findings'"):
        upsert(FindingRow, "sqlite", index_elements=["nope"], update_columns=["value"])
    with pytest.raises(ValueError, match="`update_columns` must name at least one column"):
        upsert(FindingRow, "sqlite", index_elements=["id"], update_columns=[])
    with pytest.raises(ValueError, match="got 'mysql'"):
        insert_ignore(SpanRow, "mysql")


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    """Deleting a model removes its versions; deleting a finding clears the alert's link to it."""
    with sessions() as session:
        version = a_model_version(session)
        alert = an_alert(session)
        session.add_all([version, alert])
        session.commit()
        model_id, finding_id = version.model_id, alert.last_finding_id
    with sessions() as session:
        session.execute(delete(ModelRow).where(ModelRow.id == model_id))
        session.execute(delete(FindingRow).where(FindingRow.id == finding_id))
        session.commit()
        assert session.scalars(select(ModelVersionRow)).all() == []
        assert session.scalars(select(AlertRow.last_finding_id)).all() == [None]


def test_foreign_key_to_a_missing_row_is_refused(sessions: sessionmaker[Session]) -> None:
    """A delivery for an alert that does not exist is refused (SQLite only checks with the pragma on)."""
    with sessions() as session:
        session.add(_orphan_delivery())
        with pytest.raises(IntegrityError):
            session.commit()


def _orphan_delivery() -> AlertDeliveryRow:
    """A delivery pointing at alert id 999, which is never created."""
    return AlertDeliveryRow(alert_id=999, sink="s", status="firing", next_attempt_at=WHEN, payload={})


def test_check_constraints_refuse_unknown_states(sessions: sessionmaker[Session]) -> None:
    """A state outside the lifecycle is refused by the database, not silently stored."""
    with sessions() as session:
        session.add(ShadowRunRow(model_name="m", model_version="1", request={}, state="exploded"))
        with pytest.raises(IntegrityError, match="ck_shadow_runs_state"):
            session.commit()


def test_json_refuses_non_finite_numbers(sessions: sessionmaker[Session]) -> None:
    """NaN fails on both backends alike (PostgreSQL JSON has no NaN), rather than only in production."""
    with sessions() as session:
        session.add(PredictionRow(**prediction_values("nan") | {"features": {"x": float("nan")}}))
        # SQLite serializes in SQLAlchemy (which wraps the error), psycopg in the driver (which does not).
        with pytest.raises((StatementError, ValueError), match="Out of range float values are not JSON compliant"):
            session.commit()


def test_session_factory_keeps_objects_readable_after_commit(sessions: sessionmaker[Session]) -> None:
    """Objects stay usable after commit, so callers can hand them on without reloading."""
    with sessions() as session:
        model = a_model(session)
        session.add(model)
        session.commit()
    assert inspect(model).expired_attributes == set()
    assert model.name == "fraud-scorer"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_create_engine_for_uses_psycopg_for_postgres_urls(scheme: str) -> None:
    """The URL spellings people paste all get the psycopg 3 driver (no connection is made)."""
    engine = create_engine_for(f"{scheme}://user:secret@db.example:5432/inferwatch")
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert (engine.url.host, engine.url.database, engine.url.password) == ("db.example", "inferwatch", "secret")
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["mysql://root@localhost/inferwatch", "postgresql+psycopg2://u@h/db"])
def test_create_engine_for_rejects_other_schemes(url: str) -> None:
    """Anything but SQLite and PostgreSQL via psycopg is refused, naming the scheme."""
    scheme = url.split("://", 1)[0]
    with pytest.raises(ValueError, match=re.escape(f"URL scheme '{scheme}'")):
        create_engine_for(url)


def test_create_engine_for_names_a_missing_sqlite_directory(tmp_path: Path) -> None:
    """A SQLite path in a directory that does not exist fails up front, naming the directory."""
    missing = tmp_path / "no" / "such"
    with pytest.raises(StorageError, match=f"directory '{missing}' does not exist"):
        create_engine_for(f"sqlite:///{missing / 'inferwatch.db'}")


def test_sqlite_connections_carry_the_pragmas(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode with NORMAL sync, a busy timeout and foreign keys on."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'inferwatch.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA busy_timeout").scalar() == 10000
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
