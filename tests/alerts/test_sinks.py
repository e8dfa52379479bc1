"""The sinks: payload shapes, the plugin registry, and Alertmanager's resend cadence."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from alerts.config import parse_alerts_section
from alerts.sinks import build_sinks
from alerts.sinks.alertmanager import AlertmanagerSink, alertmanager_alerts
from alerts.sinks.base import Notification, NotifiedAlert
from alerts.sinks.slack import SlackSink, slack_message
from alerts.sinks.webhook import WebhookSink, webhook_payload
from alerts.testing import InMemorySink
from collector.core.errors import ConfigError
from tests.alerts.conftest import T0, Clock, Receiver, Store
from tests.alerts.helpers import dispatcher


def notified(subject: str, status: str = "firing") -> NotifiedAlert:
    """An alert as a notification carries it."""
    return NotifiedAlert(
        fingerprint=f"fp-{subject}",
        status=status,
        labels={"alertname": "ModelLatencyAnomaly", "model": "fraud", "severity": "warning", "subject": subject},
        annotations={
            "summary": f"p99 of {subject} is 850 ms <high>",
            "value": "850",
            "baseline": "200",
            "evidence_url": "http://iw/api/v1/findings/7",
            "runbook_url": "https://runbooks/latency",
        },
        starts_at=T0,
        ends_at=T0 + timedelta(minutes=5) if status == "resolved" else None,
        generator_url="http://iw/api/v1/findings/7",
    )


def notification(*alerts: NotifiedAlert) -> Notification:
    """A notification of the fraud group."""
    return Notification(
        id="n1",
        receiver="oncall",
        group_key='0:{alertname="ModelLatencyAnomaly", model="fraud"}',
        group_labels={"alertname": "ModelLatencyAnomaly", "model": "fraud"},
        alerts=alerts,
        sent_at=T0 + timedelta(minutes=10),
        external_url="http://iw",
    )


def test_webhook_payload_is_alertmanager_v4() -> None:
    """Every field of Alertmanager's webhook payload version 4, with its zero time for firing alerts."""
    body = webhook_payload(notification(notified("predict"), notified("embed", "resolved")), max_alerts=1)
    assert set(body) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert (body["version"], body["status"], body["truncatedAlerts"], body["receiver"]) == ("4", "firing", 1, "oncall")
    assert body["commonLabels"] == {"alertname": "ModelLatencyAnomaly", "model": "fraud", "severity": "warning"}
    (alert,) = body["alerts"]
    assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert (alert["startsAt"], alert["endsAt"]) == ("2026-11-30T12:00:00Z", "0001-01-01T00:00:00Z")


def test_webhook_sink_posts_to_a_real_receiver(receiver: Receiver) -> None:
    """The sink POSTs the payload as JSON and reports success; a 500 is a retryable failure, a 400 is not."""
    sink = WebhookSink("oncall", {"url": f"{receiver.url}/hook"}, timeout_s=5)
    assert sink.send(notification(notified("predict"))).ok
    assert receiver.received()[0]["groupLabels"]["model"] == "fraud"
    receiver.status = 500
    failed = sink.send(notification(notified("predict")))
    assert (failed.ok, failed.retryable) == (False, True)
    receiver.status = 400
    assert not sink.send(notification(notified("predict"))).retryable


def test_slack_message_is_readable() -> None:
    """A header saying what and how many, one section per alert with value, baseline and links, escaped."""
    message = slack_message(notification(notified("predict"), notified("embed", "resolved")), channel="#oncall")
    assert message["text"] == "[FIRING:1] ModelLatencyAnomaly fraud"
    assert message["channel"] == "#oncall"
    first = message["blocks"][1]["text"]["text"]
    assert ":red_circle: *ModelLatencyAnomaly* fraud (warning, firing)" in first
    assert "p99 of predict is 850 ms &lt;high&gt;" in first
    assert "value 850, baseline 200" in first
    assert "<http://iw/api/v1/findings/7|Evidence> · <https://runbooks/latency|Runbook>" in first
    assert ":large_green_circle:" in message["blocks"][2]["text"]["text"]


def test_slack_sink_posts_to_a_real_receiver(receiver: Receiver) -> None:
    """The incoming webhook gets the message."""
    assert SlackSink("chat", {"url": receiver.url}, timeout_s=5).send(notification(notified("predict"))).ok
    assert receiver.received()[0]["text"].startswith("[FIRING:1]")


def test_alertmanager_body_sets_ends_at_ahead_when_firing_and_at_resolution() -> None:
    """Firing alerts expire four resend intervals after the send; resolved ones carry when they resolved."""
    body = alertmanager_alerts(notification(notified("predict"), notified("embed", "resolved")), 60)
    assert body[0]["endsAt"] == "2026-11-30T12:14:00Z"
    assert body[1]["endsAt"] == "2026-11-30T12:05:00Z"
    assert set(body[0]) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}


def test_alertmanager_gets_firing_alerts_again_well_inside_its_resolve_timeout(
    engine: Engine, clock: Clock, store: Store
) -> None:
    """A sink with a resend interval of 1 min hears of each firing alert every minute, acknowledged or not."""
    sink = InMemorySink("oncall", resend_interval_s=60)
    runner, _ = dispatcher(engine, clock, sinks={"oncall": sink}, for_="0s", keep_firing_for="1h")
    store(clock.now)
    runner.run_once()
    for _ in range(10):
        runner.run_once(clock.advance(30))
    sent = [n.sent_at for n in sink.notifications]
    assert len(sent) == 6
    assert max(b - a for a, b in itertools.pairwise(sent)) <= timedelta(minutes=1)


def test_sinks_are_found_through_entry_points() -> None:
    """Receivers name their type; the built-ins are entry points like any plugin."""
    config = parse_alerts_section(
        {
            "route": {"receiver": "hook", "routes": [{"receiver": "am"}, {"receiver": "chat"}]},
            "receivers": {
                "hook": {"type": "webhook", "url": "http://127.0.0.1:1/"},
                "am": {"type": "alertmanager", "urls": ["http://a:9093", "http://b:9093"]},
                "chat": {"type": "slack", "url": "https://hooks.slack.com/services/x"},
            },
        }
    )
    sinks = build_sinks(config)
    assert isinstance(sinks["hook"], WebhookSink)
    assert isinstance(sinks["am"], AlertmanagerSink)
    assert sinks["am"].urls == ("http://a:9093", "http://b:9093")
    assert isinstance(sinks["chat"], SlackSink)


@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        ({"type": "pagerduty"}, "alerts.receivers.r.type: 'pagerduty'"),
        ({"type": "webhook"}, "alerts.receivers.r: `url` is required"),
        ({"type": "webhook", "url": "ftp://x"}, "alerts.receivers.r: `url` must be an http:// or https:// URL"),
        ({"type": "webhook", "url": "http://x", "tiemout": 3}, "unknown option `tiemout`"),
        ({"type": "alertmanager", "url": "http://x", "resend_interval": "soon"}, "resend_interval"),
    ],
)
def test_bad_receivers_are_config_errors_naming_them(receiver: dict[str, object], message: str) -> None:
    """A receiver that cannot work stops start-up, naming the receiver and the option."""
    config = parse_alerts_section({"route": {"receiver": "r"}, "receivers": {"r": receiver}})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build_sinks(config)
