"""Alert sinks: the plugin interface, and how receivers in the configuration become sink instances.

A sink is found by its receiver's ``type`` among the ``inferwatch.alert_sinks`` entry points; the built-ins
(``webhook``, ``slack``, ``alertmanager``) register exactly as a third-party package would::

    [project.entry-points."inferwatch.alert_sinks"]
    pagerduty = "mypackage.pagerduty:PagerDutySink"

The entry point names a factory called as ``factory(name, options, timeout_s=...)``: it checks ``options``
(the receiver's table without ``type`` and ``send_resolved``) and raises ``ValueError`` naming the bad option.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from alerts.config import AlertsConfig
from alerts.sinks.base import AlertSink, Notification, NotifiedAlert, SendResult
from collector.core.errors import ConfigError

ENTRY_POINT_GROUP = "inferwatch.alert_sinks"

__all__ = ["ENTRY_POINT_GROUP", "AlertSink", "Notification", "NotifiedAlert", "SendResult", "build_sinks"]


def build_sinks(config: AlertsConfig) -> dict[str, AlertSink]:
    """One sink per configured receiver; an unknown type or a bad option is a ConfigError naming it."""
    available = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    sinks: dict[str, AlertSink] = {}
    for name, receiver in config.receivers.items():
        point = available.get(receiver.type)
        if point is None:
            known = ", ".join(sorted(available)) or "none installed"
            raise ConfigError(f"invalid alerts.receivers.{name}.type: {receiver.type!r}: known types: {known}")
        factory: Any = point.load()
        try:
            sinks[name] = factory(name, dict(receiver.options), timeout_s=config.send_timeout_s)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"invalid alerts.receivers.{name}: {error}") from None
    return sinks


def option(options: Mapping[str, Any], key: str, kind: type, default: Any = None, *, required: bool = False) -> Any:
    """One sink option of the expected type, or ValueError naming it."""
    if key not in options:
        if required:
            raise ValueError(f"`{key}` is required")
        return default
    value = options[key]
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ValueError(f"`{key}` must be a {kind.__name__}, got {value!r}")
    return value


def check_unknown(options: Mapping[str, Any], known: set[str]) -> None:
    """Typos in a receiver's table are errors, as everywhere else in the configuration."""
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown option `{unknown[0]}` (known: {', '.join(sorted(known))})")
