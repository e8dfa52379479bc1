"""The alert lifecycle on a real database: pending, firing after `for`, resolved after a quiet stretch."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.domain import Finding
from collector.core.findings import store_findings
from collector.core.storage.alert_tables import AlertRow
from tests.alerts.conftest import Clock, Store
from tests.alerts.helpers import dispatcher


def states(engine: Engine) -> dict[str, str]:
    """Alert state by alertname/subject."""
    with Session(engine) as session:
        return {
            f"{row.labels['alertname']}/{row.labels.get('subject', '')}": row.state
            for row in session.scalars(select(AlertRow))
        }


def test_pending_then_firing_after_for_then_resolved_after_hysteresis(
    engine: Engine, clock: Clock, store: Store
) -> None:
    """A condition fires after `for`, is notified once, and resolves only after keep_firing_for of quiet, counted
    from when the next verdict was due."""
    runner, sink = dispatcher(engine, clock, group_wait="0s")
    store(clock.now)
    runner.run_once()
    assert states(engine) == {"ModelLatencyAnomaly/predict": "pending"}
    assert sink.notifications == []
    for _ in range(2):
        store(clock.advance(60))
        runner.run_once()
    assert states(engine) == {"ModelLatencyAnomaly/predict": "firing"}
    assert [a.status for a in sink.alerts] == ["firing"]
    store(clock.advance(60), firing=False)
    # Quiet time counts from when the verdict after the last firing one was due: 60 s (the detector interval)
    # plus 10 s (the dispatcher's) after that one was read. This is 4 min 59 s past it.
    runner.run_once(clock.advance(239 + 70))
    assert states(engine)["ModelLatencyAnomaly/predict"] == "firing"
    runner.run_once(clock.advance(1))
    assert states(engine)["ModelLatencyAnomaly/predict"] == "resolved"
    runner.run_once(clock.advance(300))
    assert [a.status for a in sink.alerts] == ["firing", "resolved"]


def test_quiet_finding_drops_a_pending_alert_without_notifying(engine: Engine, clock: Clock, store: Store) -> None:
    """A condition that clears before `for` never pages."""
    runner, sink = dispatcher(engine, clock, group_wait="0s")
    store(clock.now)
    runner.run_once()
    store(clock.advance(60), firing=False)
    runner.run_once()
    for _ in range(10):
        runner.run_once(clock.advance(60))
    assert states(engine) == {}
    assert sink.notifications == []


def test_same_condition_is_one_alert(engine: Engine, clock: Clock, store: Store) -> None:
    """Repeated findings of one condition deduplicate on the fingerprint; another subject is another alert."""
    runner, _ = dispatcher(engine, clock)
    for _ in range(3):
        store(clock.advance(60))
        store(clock.now, subject="embed")
    runner.run_once()
    assert states(engine) == {"ModelLatencyAnomaly/predict": "firing", "ModelLatencyAnomaly/embed": "firing"}


def test_flapping_input_does_not_flap_notifications(engine: Engine, clock: Clock, store: Store) -> None:
    """A detector alternating firing and quiet every minute for an hour gives one firing and one resolved notice."""
    runner, sink = dispatcher(engine, clock, group_wait="0s", group_interval="1m")
    for minute in range(60):
        store(clock.advance(60), firing=minute % 2 == 0 or minute < 3)
        runner.run_once()
    for _ in range(10):
        runner.run_once(clock.advance(60))
    assert [(a.status, a.labels["alertname"]) for a in sink.alerts] == [
        ("firing", "ModelLatencyAnomaly"),
        ("resolved", "ModelLatencyAnomaly"),
    ]


def drift_window(end: datetime, *, firing: bool = True) -> Finding:
    """A drift.data verdict on the hour ending at ``end``, standing until the next hour's is due (62 min)."""
    return Finding(
        detector="drift.data",
        model_name="fraud",
        model_version="3",
        subject="",
        severity="warning" if firing else "info",
        firing=firing,
        window_start=end - timedelta(hours=1),
        window_end=end,
        summary="input features: 1 of 20 drifted: amount" if firing else "input features: no drift",
        details={"holds_for_s": 3720},
    )


def test_a_window_verdict_fires_at_once_and_stands_until_the_next_window(engine: Engine, clock: Clock) -> None:
    """A drifted hour is already persistent evidence: it fires on its own, holds through the hour until the next
    verdict is due, and resolves keep_firing_for after a quiet hour instead of flapping every five minutes."""
    runner, sink = dispatcher(engine, clock, group_wait="0s")
    store_findings(engine, [drift_window(clock.now)])
    runner.run_once(clock.advance(120))
    assert states(engine) == {"ModelDataDrift/": "firing"}
    for _ in range(11):
        runner.run_once(clock.advance(300))  # an hour of passes with no new window verdict
    assert states(engine) == {"ModelDataDrift/": "firing"}
    store_findings(engine, [drift_window(clock.now - timedelta(minutes=1), firing=False)])
    runner.run_once(clock.advance(60))
    runner.run_once(clock.advance(3720 + 300))
    assert states(engine) == {"ModelDataDrift/": "resolved"}
    assert [a.status for a in sink.alerts] == ["firing", "resolved"]
