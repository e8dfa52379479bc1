"""Delivery through the outbox to real HTTP receivers: retries, recovery, exactly-once, the delivery log."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from alerts.dispatcher import AlertDispatcher
from alerts.outbox import RetryPolicy
from alerts.sinks.base import AlertSink, Notification, SendResult
from alerts.sinks.webhook import WebhookSink
from alerts.store import get_alert
from collector.core.findings import store_findings
from collector.core.storage.alert_tables import AlertDeliveryRow
from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import upgrade
from tests.alerts.conftest import Clock, Receiver, Store, finding
from tests.alerts.helpers import alerts_config, dispatcher

MODELS = ("fraud", "churn", "ranker")


def fired(receiver: Receiver) -> Counter[tuple[str, str]]:
    """How many times each (model, status) arrived at the receiver."""
    return Counter(
        (alert["labels"]["model"], alert["status"]) for body in receiver.received() for alert in body["alerts"]
    )


def _two_receivers(engine: Engine, clock: Clock, sinks: dict[str, AlertSink]) -> AlertDispatcher:
    """A dispatcher whose every alert goes to both receivers of ``sinks``, the first one first (``continue``)."""
    first, second = sinks
    return AlertDispatcher(
        engine,
        alerts_config(
            for_="0s",
            keep_firing_for="2h",
            route={
                "receiver": second,
                "group_wait": "0s",
                "routes": [{"receiver": first, "continue": True}, {"receiver": second}],
            },
            receivers={name: {"type": "webhook", "url": "http://x/"} for name in sinks},
        ),
        sinks,
        clock=clock,
    )


def test_receiver_down_for_an_hour_gets_every_alert_exactly_once(
    engine: Engine, clock: Clock, store: Store, receiver: Receiver
) -> None:
    """Alerts raised while the receiver answers 503 for an hour all arrive, once each, when it is back."""
    receiver.status = 503
    sink = WebhookSink("oncall", {"url": f"{receiver.url}/hook"}, timeout_s=5)
    runner, _ = dispatcher(engine, clock, sinks={"oncall": sink}, group_wait="0s", keep_firing_for="2h")
    for _minute in range(60):
        for model in MODELS:
            store(clock.advance(20), model=model)
        runner.run_once()
    assert receiver.received() == []
    assert receiver.refused > 3
    receiver.status = 200
    for _ in range(12):
        runner.run_once(clock.advance(60))
    assert fired(receiver) == {(model, "firing"): 1 for model in MODELS}
    log = get_alert(engine, receiver.received()[0]["alerts"][0]["fingerprint"], clock.now).deliveries
    assert [(d.state, d.status) for d in log] == [("sent", "firing")]
    assert log[0].attempts > 3
    assert "HTTP 503" in (log[0].last_error or "") or log[0].last_error is None


def test_a_groups_backlog_arrives_in_order_in_one_pass_after_recovery(
    engine: Engine, clock: Clock, store: Store, receiver: Receiver
) -> None:
    """Notifications decided while the receiver was down go out oldest first, all in the first pass it is up."""
    receiver.status = 503
    sink = WebhookSink("oncall", {"url": receiver.url}, timeout_s=5)
    runner, _ = dispatcher(
        engine, clock, sinks={"oncall": sink}, for_="0s", group_wait="0s", group_interval="1m", keep_firing_for="1d"
    )
    for subject in ("a", "b", "c", "d"):  # each newcomer makes the group's next notification
        store(clock.now, subject=subject)
        runner.run_once()
        runner.run_once(clock.advance(60))
    receiver.status = 200
    runner.run_once(clock.advance(3600))
    assert [len(body["alerts"]) for body in receiver.received()] == [1, 2, 3, 4]


def test_a_notification_failing_past_give_up_after_is_marked_failed(
    engine: Engine, clock: Clock, store: Store, receiver: Receiver
) -> None:
    """Retries stop after give_up_after; the delivery log says failed and why."""
    receiver.status = 502
    sink = WebhookSink("oncall", {"url": receiver.url}, timeout_s=5)
    runner, _ = dispatcher(
        engine, clock, sinks={"oncall": sink}, for_="0s", group_wait="0s", give_up_after="1h", keep_firing_for="1d"
    )
    store(clock.now)
    runner.run_once()
    for _ in range(13):
        runner.run_once(clock.advance(300))
    with Session(engine) as session:
        (entry,) = session.scalars(select(AlertDeliveryRow)).all()
        assert entry.state == "failed"
        assert "HTTP 502" in (entry.last_error or "")


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    """Each retry waits between half and all of min(max, initial * 2^(n-1))."""
    policy = RetryPolicy(initial_s=5, max_s=300)
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(300, 5 * 2 ** (attempt - 1))
        delays = [policy.delay_s(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_a_sink_that_raises_is_retried_and_others_still_get_theirs(engine: Engine, clock: Clock, store: Store) -> None:
    """A plugin exception is a retryable failure of that sink only; the delivery log records it."""
    calls = []

    class Exploding:
        name: str = "broken"
        resend_interval_s: float | None = None

        def send(self, notification: Notification) -> SendResult:
            calls.append(notification.id)
            if len(calls) == 1:
                raise RuntimeError("boom")
            return SendResult(True)

    from alerts.testing import InMemorySink

    good = InMemorySink("oncall")
    runner = _two_receivers(engine, clock, {"broken": Exploding(), "oncall": good})
    store(clock.now)
    runner.run_once()
    assert len(good.notifications) == 1
    with Session(engine) as session:
        broken = session.scalars(select(AlertDeliveryRow).where(AlertDeliveryRow.sink == "broken")).one()
        assert (broken.state, broken.last_error) == ("retrying", "RuntimeError: boom")
    runner.run_once(clock.advance(3600))
    assert len(calls) == 2
    assert len(good.notifications) == 1


@pytest.mark.postgres
def test_two_dispatchers_on_one_postgresql_send_each_alert_once(
    fresh_postgres_url: Callable[[], str], receiver: Receiver
) -> None:
    """Two replicas running passes at the same moments on one database notify each alert exactly once."""
    url = fresh_postgres_url()
    upgrade(url)
    clock = Clock()
    engines = [create_engine_for(url) for _ in range(2)]
    try:
        runners = [
            AlertDispatcher(
                engine,
                alerts_config(for_="0s", group_wait="0s", group_by=["..."], keep_firing_for="1h"),
                {"oncall": WebhookSink("oncall", {"url": receiver.url}, timeout_s=5)},
                clock=clock,
                replica_id=f"replica-{n}",
            )
            for n, engine in enumerate(engines)
        ]
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(runner: AlertDispatcher, writes: bool) -> None:
            try:
                for step in range(10):
                    at = clock.now + timedelta(minutes=step)
                    if writes and step < 8:  # new conditions keep arriving between passes, as from the scheduler
                        store_findings(engines[0], [finding(at, model=f"m{step}-{n}") for n in range(5)])
                    barrier.wait(timeout=30)
                    runner.run_once(at)
            except BaseException as error:  # surfaced below
                errors.append(error)
                barrier.abort()

        threads = [threading.Thread(target=run, args=(runner, n == 0)) for n, runner in enumerate(runners)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "a dispatcher pass did not finish"
        assert not errors
    finally:
        for engine in engines:
            engine.dispose()
    counts = fired(receiver)
    assert counts == {(f"m{step}-{n}", "firing"): 1 for step in range(8) for n in range(5)}


def test_a_hanging_receiver_does_not_hold_back_the_others(
    engine: Engine, clock: Clock, store: Store, receiver: Receiver
) -> None:
    """While the chat receiver hangs on its request, the pager's notification of the same alert goes out."""
    chat = Receiver(hold=True)
    try:
        runner = _two_receivers(
            engine,
            clock,
            {
                "chat": WebhookSink("chat", {"url": chat.url}, timeout_s=30),
                "pager": WebhookSink("pager", {"url": receiver.url}, timeout_s=30),
            },
        )
        store(clock.now)
        passing = threading.Thread(target=runner.run_once)
        passing.start()
        assert chat.entered.wait(10), "the chat receiver was never called"
        deadline = time.monotonic() + 10
        while not receiver.received() and time.monotonic() < deadline:
            time.sleep(0.05)
        # The pager has its notification while the chat request is still open.
        assert not chat.release.is_set()
        assert len(receiver.received()) == 1
        chat.release.set()
        passing.join(30)
        assert not passing.is_alive()
    finally:
        chat.close()
    with Session(engine) as session:
        states = {row.sink: row.state for row in session.execute(select(AlertDeliveryRow.sink, AlertDeliveryRow.state))}
    assert states == {"pager": "sent", "chat": "sent"}


def test_a_receiver_that_fails_is_tried_once_a_pass(
    engine: Engine, clock: Clock, store: Store, receiver: Receiver
) -> None:
    """Three groups due to a receiver answering 503: one attempt this pass, the other two wait untried and
    unleased, and all three arrive in the first pass after it recovers."""
    sink = WebhookSink("oncall", {"url": receiver.url}, timeout_s=5)
    runner, _ = dispatcher(engine, clock, sinks={"oncall": sink}, for_="0s", group_wait="0s", keep_firing_for="1d")
    receiver.status = 503
    for model in MODELS:
        store(clock.now, model=model)
    result = runner.run_once()
    assert (result.sent, result.failed) == (0, 1)
    assert receiver.refused == 1
    with Session(engine) as session:
        rows = session.scalars(select(AlertDeliveryRow).order_by(AlertDeliveryRow.id)).all()
        assert sorted(row.attempts for row in rows) == [0, 0, 1]
        assert all(row.locked_by is None for row in rows)
    receiver.status = 200
    runner.run_once(clock.advance(600))
    assert fired(receiver) == {(model, "firing"): 1 for model in MODELS}
