"""Building dispatchers for tests from the same ``[alerts]`` tables users write."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from alerts.config import AlertsConfig, parse_alerts_section
from alerts.dispatcher import AlertDispatcher
from alerts.sinks.base import AlertSink
from alerts.testing import InMemorySink
from tests.alerts.conftest import Clock

ROUTE_KEYS = {"group_by", "group_wait", "group_interval", "repeat_interval", "routes", "receiver"}


def alerts_config(**overrides: Any) -> AlertsConfig:
    """One webhook receiver, grouped by alertname and model, 30 s / 5 min / 4 h, ``for`` 2 min."""
    section: dict[str, Any] = {
        "for": "2m",
        "keep_firing_for": "5m",
        "external_url": "http://inferwatch.test:8080",
        "route": {
            "receiver": "oncall",
            "group_by": ["alertname", "model"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "receivers": {"oncall": {"type": "webhook", "url": "http://127.0.0.1:9/unused"}},
    }
    if "for_" in overrides:
        overrides["for"] = overrides.pop("for_")
    for key, value in overrides.items():
        # Route timers go to the root route; everything else to [alerts].
        (section["route"] if key in ROUTE_KEYS else section)[key] = value
    return parse_alerts_section(section)


def dispatcher(
    engine: Engine, clock: Clock, *, sinks: dict[str, AlertSink] | None = None, **overrides: Any
) -> tuple[AlertDispatcher, InMemorySink]:
    """A dispatcher on the injected clock whose ``oncall`` receiver is an InMemorySink."""
    sink = InMemorySink("oncall")
    return AlertDispatcher(engine, alerts_config(**overrides), sinks or {"oncall": sink}, clock=clock), sink
