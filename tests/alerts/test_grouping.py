"""Grouping, repeats, acknowledgement, silences and inhibition, with Alertmanager's meanings."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from alerts.model import Matcher
from alerts.store import AlertFilter, acknowledge, create_silence, expire_silence, list_alerts
from tests.alerts.conftest import Clock, Store
from tests.alerts.helpers import dispatcher


def test_group_wait_then_group_interval_then_repeat_interval(engine: Engine, clock: Clock, store: Store) -> None:
    """Alerts of one group go out together after group_wait; a newcomer waits for the next tick; then repeats."""
    runner, sink = dispatcher(engine, clock, for_="0s", keep_firing_for="1d", repeat_interval="1h")
    store(clock.now, subject="predict")
    store(clock.now, subject="embed")
    store(clock.now, subject="x", model="churn")
    runner.run_once()
    assert sink.notifications == []
    runner.run_once(clock.advance(29))
    assert sink.notifications == []
    runner.run_once(clock.advance(1))
    groups = sorted((n.group_labels["model"], len(n.alerts)) for n in sink.notifications)
    assert groups == [("churn", 1), ("fraud", 2)]
    fraud = next(n for n in sink.notifications if n.group_labels["model"] == "fraud")
    assert fraud.group_key == '0:{alertname="ModelLatencyAnomaly", model="fraud"}'
    sink.clear()
    store(clock.advance(60), subject="rank")
    runner.run_once()
    runner.run_once(clock.advance(200))  # 4 min 20 s after the first notice: before the group's next tick
    assert sink.notifications == []
    runner.run_once(clock.advance(40))
    assert [len(n.alerts) for n in sink.notifications] == [3]
    sink.clear()
    for _ in range(10):  # unchanged for 50 minutes: nothing new to say
        runner.run_once(clock.advance(300))
    assert sink.notifications == []
    runner.run_once(clock.advance(300))  # churn's tick an hour after its last notice
    assert [n.group_labels["model"] for n in sink.notifications] == ["churn"]
    runner.run_once(clock.advance(300))  # fraud's, an hour after the newcomer joined
    assert [n.group_labels["model"] for n in sink.notifications] == ["churn", "fraud"]


def test_acknowledged_alerts_are_not_repeated_but_resolution_is_notified(
    engine: Engine, clock: Clock, store: Store
) -> None:
    """An acknowledgement stops repeats of the alert; its resolution still goes out."""
    runner, sink = dispatcher(engine, clock, for_="0s", group_wait="0s", repeat_interval="1h")
    store(clock.now)
    runner.run_once()
    (alert,) = sink.alerts
    acknowledge(engine, alert.fingerprint, "oncall-anna", "looking", clock.now)
    for _ in range(30):  # two and a half hours, still firing
        store(clock.advance(300))
        runner.run_once()
    assert [a.status for a in sink.alerts] == ["firing"]
    runner.run_once(clock.advance(600))
    assert [a.status for a in sink.alerts] == ["firing", "resolved"]


def test_silence_suppresses_and_its_expiry_restores(engine: Engine, clock: Clock, store: Store) -> None:
    """A matching silence keeps an alert from notifications; once it expires the alert is notified."""
    runner, sink = dispatcher(engine, clock, for_="0s", group_wait="0s", group_interval="1m", keep_firing_for="1d")
    create_silence(
        engine,
        [Matcher("model", "fraud")],
        starts_at=clock.now,
        ends_at=clock.now + timedelta(minutes=30),
        created_by="anna",
        comment="deploying",
    )
    store(clock.now, model="fraud")
    store(clock.now, model="churn")
    runner.run_once()
    for _ in range(29):
        runner.run_once(clock.advance(60))
    assert {a.labels["model"] for a in sink.alerts} == {"churn"}
    silenced = list_alerts(engine, AlertFilter(labels={"model": "fraud"}), clock.now)
    assert silenced[0].silenced_by
    runner.run_once(clock.advance(60))
    assert [a.labels["model"] for a in sink.alerts] == ["churn", "fraud"]


def test_unsilence_restores_at_once(engine: Engine, clock: Clock, store: Store) -> None:
    """Expiring a silence by hand lets the alert through at the group's next look."""
    runner, sink = dispatcher(engine, clock, for_="0s", group_wait="0s", group_interval="1m")
    silence = create_silence(
        engine,
        [Matcher("severity", "warn.*", is_regex=True)],
        starts_at=clock.now,
        ends_at=clock.now + timedelta(days=1),
        created_by="anna",
        comment="",
    )
    store(clock.now)
    runner.run_once()
    assert sink.notifications == []
    expire_silence(engine, silence.id, clock.now)
    runner.run_once(clock.advance(60))
    assert len(sink.alerts) == 1


def test_critical_alert_inhibits_warnings_of_the_same_model(engine: Engine, clock: Clock, store: Store) -> None:
    """A critical alert for a model mutes that model's warnings of its detector family, not other models'."""
    runner, sink = dispatcher(engine, clock, for_="0s", group_wait="0s", group_by=["..."])
    store(clock.now, model="fraud", severity="warning", detector="slo.burn", subject="latency<300ms@99%")
    store(clock.now, model="fraud", severity="critical", detector="slo.burn", subject="availability@99.9%")
    store(clock.now, model="churn", severity="warning", detector="slo.burn", subject="availability@99.9%")
    runner.run_once()
    notified = sorted((a.labels["model"], a.labels["severity"]) for a in sink.alerts)
    assert notified == [("churn", "warning"), ("fraud", "critical")]
    warning = list_alerts(engine, AlertFilter(labels={"model": "fraud", "severity": "warning"}), clock.now)[0]
    assert len(warning.inhibited_by) == 1


def test_lifting_a_silence_that_has_not_begun_expires_it(engine: Engine, clock: Clock) -> None:
    """A future silence that is lifted reads as expired, not as pending forever."""
    later = create_silence(
        engine,
        [Matcher("model", "fraud")],
        starts_at=clock.now + timedelta(hours=1),
        ends_at=clock.now + timedelta(hours=2),
        created_by="anna",
        comment="maintenance",
    )
    assert later.status(clock.now) == "pending"
    assert expire_silence(engine, later.id, clock.now).status(clock.now + timedelta(hours=1)) == "expired"


def test_a_silenced_alerts_resolution_is_not_notified(engine: Engine, clock: Clock, store: Store) -> None:
    """An alert notified, then silenced, then resolved under the silence stays quiet."""
    runner, sink = dispatcher(engine, clock, for_="0s", group_wait="0s", group_interval="1m", keep_firing_for="5m")
    store(clock.now)
    runner.run_once()
    create_silence(
        engine,
        [Matcher("alertname", "ModelLatencyAnomaly")],
        starts_at=clock.now,
        ends_at=clock.now + timedelta(days=1),
        created_by="anna",
        comment="known",
    )
    for _ in range(10):
        runner.run_once(clock.advance(60))
    assert [a.status for a in sink.alerts] == ["firing"]
