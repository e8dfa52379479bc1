"""Retention on SQLite and PostgreSQL: each kind of data on its own clock, never a span still needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from collector.core.storage.alert_tables import AlertDeliveryRow, AlertRow
from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import (
    DriftReferenceRow,
    DriftSummaryRow,
    FindingRow,
    OutcomeRow,
    PredictionRow,
    SpanRollupRow,
    SpanRow,
)
from detectors.retention import DAY_S, RetentionOptions, prune
from detectors.rollups import RollupOptions
from detectors.scheduler import DetectorScheduler, SchedulerOptions

NOW = 1_763_000_000 // 3600 * 3600
NANOS = 1_000_000_000


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of each backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def add_spans(engine: Engine, starts_s: list[int]) -> None:
    """One 100 ms inference span of model fraud at each start second."""
    rows = [
        {
            "trace_id": n.to_bytes(16, "big"),
            "span_id": n.to_bytes(8, "big"),
            "name": "predict",
            "kind": 2,
            "service_name": "scorer",
            "model_name": "fraud",
            "model_version": "1",
            "operation": "predict",
            "hardware_class": "cpu",
            "start_unix_nano": start * NANOS,
            "end_unix_nano": start * NANOS + 100_000_000,
            "status_code": 0,
            "is_inference": True,
        }
        for n, start in enumerate(starts_s, start=1)
    ]
    with engine.begin() as connection:
        connection.execute(insert(SpanRow), rows)


def counts(engine: Engine) -> tuple[int, int]:
    """(spans, one-minute rollups) stored."""
    with engine.connect() as connection:
        spans = connection.execute(select(func.count()).select_from(SpanRow)).scalar_one()
        rollups = connection.execute(
            select(func.count()).select_from(SpanRollupRow).where(SpanRollupRow.interval_s == 60)
        ).scalar_one()
    return int(spans), int(rollups)


def test_spans_and_rollups_are_pruned_on_their_own_clocks(engine: Engine) -> None:
    """With 1 day for spans and 3 for rollups, a pass keeps 1 of 4 days of spans and 3 of 4 days of rollups."""
    starts = [NOW - day * DAY_S - 600 for day in range(4)]  # 10 minutes before now, then a day earlier each
    add_spans(engine, starts)
    scheduler = DetectorScheduler(
        engine,
        SchedulerOptions(
            rollup=RollupOptions(),
            retention=RetentionOptions(raw_spans_s=DAY_S, rollups_s=3 * DAY_S),
        ),
    )
    scheduler.evaluate_once(now_s=NOW)
    with engine.connect() as connection:
        kept_spans = connection.execute(select(SpanRow.start_unix_nano)).scalars().all()
        kept_rollups = connection.execute(select(SpanRollupRow.interval_s, SpanRollupRow.bucket_start_unix_s)).all()
    assert sorted(kept_spans) == [starts[0] * NANOS]
    minutes = [bucket for interval, bucket in kept_rollups if interval == 60]
    assert sorted(minutes) == sorted(start // 60 * 60 for start in starts[:3])


def test_spans_not_yet_rolled_up_are_kept_whatever_their_age(engine: Engine) -> None:
    """Before the first rollup nothing is pruned; after it, only spans the rollup job has read go."""
    add_spans(engine, [NOW - 10 * DAY_S, NOW - 200, NOW - 9 * DAY_S])
    options = RetentionOptions(raw_spans_s=300, rollups_s=None)
    assert prune(engine, NOW, options, rolled_up_through_id=None).spans == 0
    assert counts(engine) == (3, 0)
    with engine.connect() as connection:
        _first, second, third = connection.execute(select(SpanRow.id).order_by(SpanRow.id)).scalars().all()
    pruned = prune(engine, NOW, options, rolled_up_through_id=second)
    assert (pruned.spans, pruned.rollups) == (1, 0)
    assert counts(engine) == (2, 0)
    assert prune(engine, NOW, options, rolled_up_through_id=third).spans == 1


def test_zero_days_keeps_forever() -> None:
    """0 in the configuration means no retention, and a negative window is refused by name."""
    assert RetentionOptions.from_days(0, 0, 0, 0) == RetentionOptions(None, None, None, None)
    assert RetentionOptions.from_days(1.5, 90, 30, 60) == RetentionOptions(129_600, 90 * DAY_S, 30 * DAY_S, 60 * DAY_S)
    with pytest.raises(ValueError, match="`predictions_s` must be > 0 or None"):
        RetentionOptions(predictions_s=-1)
    with pytest.raises(ValueError, match="`rollups_s` must be > 0 or None"):
        RetentionOptions(rollups_s=0)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def add_predictions_and_findings(engine: Engine, ages_s: list[int]) -> None:
    """At each age before NOW: a prediction, its outcome, a finding, and a drift summary; an alert on the oldest
    finding."""
    with engine.begin() as connection:
        reference_id = connection.execute(
            insert(DriftReferenceRow).returning(DriftReferenceRow.id),
            {
                "model_name": "fraud",
                "model_version": "1",
                "source": "file",
                "row_count": 1,
                "features": [],
                "fitted": b"{}",
            },
        ).scalar_one()
        for n, age in enumerate(ages_s):
            ts_ns = (NOW - age) * NANOS
            connection.execute(
                insert(PredictionRow),
                {
                    "prediction_id": f"p{n}",
                    "model_name": "fraud",
                    "model_version": "1",
                    "ts_unix_nano": ts_ns,
                    "received_unix_nano": ts_ns,
                    "features": {"amount": 1.0},
                    "outputs": {"label": "ok"},
                    "raw_inputs": b"x" * 64,
                },
            )
            connection.execute(
                insert(OutcomeRow),
                {
                    "prediction_id": f"p{n}",
                    "model_name": "fraud",
                    "ts_unix_nano": ts_ns,
                    "received_unix_nano": ts_ns,
                    "actual": "ok",
                },
            )
            finding_id = connection.execute(
                insert(FindingRow).returning(FindingRow.id),
                {
                    "model_name": "fraud",
                    "model_version": "1",
                    "detector": "latency",
                    "subject": f"operation-{n}",
                    "severity": "warning",
                    "firing": True,
                    "window_start": _at(NOW - age - 60),
                    "window_end": _at(NOW - age),
                    "summary": "slow",
                    "details": {},
                    "created_at": _at(NOW - age),
                },
            ).scalar_one()
            connection.execute(
                insert(DriftSummaryRow),
                {
                    "reference_id": reference_id,
                    "bucket_s": 300,
                    "bucket_start_unix_s": NOW - age - n,
                    "rows": 1,
                    "summary": b"{}",
                },
            )
            if n == 0:
                alert_id = connection.execute(
                    insert(AlertRow).returning(AlertRow.id),
                    {
                        "fingerprint": "f0",
                        "labels": {"alertname": "ModelLatencyAnomaly"},
                        "state": "resolved",
                        "starts_at": _at(NOW - age),
                        "last_finding_id": finding_id,
                    },
                ).scalar_one()
                # The delivery log: an old sent entry and an old one still retrying, and a recent sent one.
                for state, created_s in (("sent", NOW - age), ("retrying", NOW - age), ("sent", NOW - 60)):
                    connection.execute(
                        insert(AlertDeliveryRow),
                        {
                            "alert_id": alert_id,
                            "sink": "oncall",
                            "status": "firing",
                            "state": state,
                            "next_attempt_at": _at(created_s),
                            "payload": {},
                            "created_at": _at(created_s),
                        },
                    )


def test_predictions_outcomes_findings_and_summaries_go_on_their_own_clocks(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 2 days for predictions and 5 for findings, in batches of 3: the old ones go, the recent stay, an
    alert on a pruned finding keeps its row without the evidence link, and only finished deliveries go."""
    monkeypatch.setattr("detectors.retention.BATCH_ROWS", 3)  # 7 old predictions take three batches
    ages = [10 * DAY_S] * 4 + [4 * DAY_S] * 3 + [3600] * 2
    add_predictions_and_findings(engine, ages)
    options = RetentionOptions(raw_spans_s=None, rollups_s=None, predictions_s=2 * DAY_S, findings_s=5 * DAY_S)
    pruned = prune(engine, NOW, options, rolled_up_through_id=None)
    assert (pruned.predictions, pruned.outcomes, pruned.findings, pruned.drift_summaries) == (7, 7, 4, 4)
    assert pruned.deliveries == 1
    assert pruned.total == 23
    with engine.connect() as connection:
        predictions = connection.execute(select(PredictionRow.prediction_id)).scalars().all()
        outcomes = connection.execute(select(OutcomeRow.prediction_id)).scalars().all()
        findings = connection.execute(select(FindingRow.created_at)).scalars().all()
        summaries = connection.execute(select(DriftSummaryRow.bucket_start_unix_s)).scalars().all()
        alert = connection.execute(select(AlertRow.fingerprint, AlertRow.last_finding_id)).one()
        deliveries = connection.execute(select(AlertDeliveryRow.state)).scalars().all()
    assert sorted(predictions) == sorted(outcomes) == ["p7", "p8"]
    assert sorted(int(at.timestamp()) for at in findings) == sorted(NOW - age for age in ages[4:])
    assert sorted(summaries) == sorted(NOW - age - n for n, age in enumerate(ages) if n >= 4)
    assert tuple(alert) == ("f0", None)
    assert sorted(deliveries) == ["retrying", "sent"]  # unsent work stays whatever its age
    # A second pass has nothing left to do.
    assert prune(engine, NOW, options, rolled_up_through_id=None).total == 0
