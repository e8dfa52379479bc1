"""Against a real Prometheus Alertmanager (Debian's package), started on loopback with a temporary config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from alerts.dispatcher import AlertDispatcher
from alerts.sinks.alertmanager import AlertmanagerSink
from tests.alerts.conftest import Clock, Receiver, Store, start_alertmanager, wait_for
from tests.alerts.helpers import alerts_config


@pytest.fixture
def alertmanager(alertmanager_binary: str, receiver: Receiver, tmp_path: Path) -> Iterator[str]:
    """An Alertmanager on loopback grouping by alertname and model, notifying ``receiver``; yields its URL."""
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["alertname", "model"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "hook", "webhook_configs": [{"url": f"{receiver.url}/alert", "send_resolved": True}]}],
    }
    (tmp_path / "am.yml").write_text(json.dumps(config))  # JSON is YAML
    process, url = start_alertmanager(alertmanager_binary, tmp_path / "am.yml", tmp_path / "data", tmp_path / "am.log")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_alert_reaches_a_webhook_through_alertmanager_grouped_and_resolved(
    engine: Engine, store: Store, receiver: Receiver, alertmanager: str
) -> None:
    """inferwatch posts to /api/v2/alerts; Alertmanager groups by alertname and model and notifies, then resolves."""
    # Alertmanager judges endsAt against its own clock, so this test's clock starts at the real time, less a
    # margin that keeps the times it sends in the past: a resolution is only a resolution once endsAt passed.
    clock = Clock(datetime.now(tz=UTC).replace(microsecond=0) - timedelta(seconds=120))
    config = alerts_config(
        for_="0s",
        keep_firing_for="1s",
        route={"receiver": "am"},
        receivers={"am": {"type": "alertmanager", "url": alertmanager}},
    )
    sink = AlertmanagerSink("am", {"url": alertmanager}, timeout_s=5)
    runner = AlertDispatcher(engine, config, {"am": sink}, clock=clock)
    store(clock.now, subject="predict")
    store(clock.now, subject="embed")
    store(clock.now, model="churn")
    result = runner.run_once()
    assert result.sent >= 1

    def grouped() -> dict[str, Any]:
        firing = [body for body in receiver.received() if body["status"] == "firing"]
        return {body["groupLabels"]["model"]: body for body in firing}

    def both_notified() -> dict[str, Any] | None:
        # On a loaded machine the two fraud alerts can reach Alertmanager either side of its 1 s group_wait; its
        # next notification (group_interval) then carries both. The latest notification per group is what counts.
        groups = grouped()
        complete = len(groups) == 2 and len(groups["fraud"]["alerts"]) == 2
        return groups if complete else None

    groups = wait_for(both_notified, "both groups to be notified, the fraud group with both alerts")
    fraud = groups["fraud"]
    assert fraud["version"] == "4"
    assert fraud["groupKey"] == '{}:{alertname="ModelLatencyAnomaly", model="fraud"}'
    assert sorted(a["labels"]["subject"] for a in fraud["alerts"]) == ["embed", "predict"]
    alert = fraud["alerts"][0]
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["evidence_url"].startswith("http://inferwatch.test:8080/findings/")
    assert alert["generatorURL"] == alert["annotations"]["evidence_url"]
    assert groups["churn"]["alerts"][0]["labels"]["detector"] == "latency"

    # Quiet for longer than keep_firing_for after the next verdict was due (60 s + 10 s): resolved, endsAt set.
    runner.run_once(clock.advance(72))
    resolved = wait_for(
        lambda: [b for b in receiver.received() if b["status"] == "resolved" and b["groupLabels"]["model"] == "fraud"],
        "the resolved notification",
    )
    assert {a["status"] for a in resolved[0]["alerts"]} == {"resolved"}
