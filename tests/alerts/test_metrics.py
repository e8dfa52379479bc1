"""The dispatcher's own metrics: notification results and the outbox backlog, as /metrics exposes them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from alerts.dispatcher import AlertDispatcher
from alerts.sinks.webhook import WebhookSink
from collector.core.metrics import ServiceMetrics
from tests.alerts.conftest import Clock, Receiver, Store
from tests.alerts.helpers import alerts_config


def samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed back as Prometheus would, by name and labels."""
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_receiver_that_is_down_shows_as_retries_and_a_growing_backlog(
    engine: Engine, clock: Clock, store: Store, receiver: Receiver
) -> None:
    """503s count as retrying and the unsent backlog ages; once the receiver is back, sent and an empty outbox."""
    metrics = ServiceMetrics()
    sink = WebhookSink("oncall", {"url": receiver.url}, timeout_s=5)
    config = alerts_config(for_="0s", group_wait="0s", keep_firing_for="1d")
    runner = AlertDispatcher(engine, config, {"oncall": sink}, clock=clock, observer=metrics)
    receiver.status = 503
    store(clock.now)
    runner.run_once()
    runner.run_once(clock.advance(600))
    down = samples(metrics)
    retrying = ("inferwatch_alert_notifications_total", (("receiver", "oncall"), ("result", "retrying")))
    assert down[retrying] == 2
    assert down[("inferwatch_alert_outbox_unsent", ())] == 1
    assert down[("inferwatch_alert_outbox_oldest_unsent_seconds", ())] >= 600

    receiver.status = 200
    runner.run_once(clock.advance(3600))
    up = samples(metrics)
    assert up[("inferwatch_alert_notifications_total", (("receiver", "oncall"), ("result", "sent")))] == 1
    assert up[retrying] == 2
    assert up[("inferwatch_alert_outbox_unsent", ())] == 0
    assert up[("inferwatch_alert_outbox_oldest_unsent_seconds", ())] == 0
