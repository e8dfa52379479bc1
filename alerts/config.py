"""The ``[alerts]`` section of ``inferwatch.toml``: lifecycle timing, the routing tree, receivers, inhibition.

Read once at start-up and checked eagerly: a bad value is a ``ConfigError`` naming its key and value. The
routing tree has Alertmanager's meanings: every alert enters the root route, walks the children, stops at
the first child that matches unless it has ``continue = true``; children inherit what they leave unset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar

from alerts.model import DETECTOR_FAMILY, Matcher
from collector.core.errors import ConfigError

T = TypeVar("T")

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
# Alertmanager's defaults.
DEFAULT_GROUP_WAIT_S: Final = 30.0
DEFAULT_GROUP_INTERVAL_S: Final = 300.0
DEFAULT_REPEAT_INTERVAL_S: Final = 4 * 3600.0
ALL_LABELS: Final = "..."


def parse_duration(raw: object) -> float:
    """``30s``, ``5m``, ``1h30m``, ``1d``, or a number of seconds; never negative."""
    if isinstance(raw, bool):
        raise ValueError("expected a duration like 30s, 5m or 4h")
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str) and raw.strip() and (found := _DURATION.match(raw.strip())):
        days, hours, minutes, secs = (float(part) if part else 0.0 for part in found.groups())
        seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError("expected a duration like 30s, 5m or 4h")
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


@dataclass(frozen=True)
class Route:
    """One node of the routing tree, with inherited values already filled in."""

    receiver: str
    matchers: tuple[Matcher, ...] = ()
    # None groups by every label (Alertmanager's ``["..."]``): one alert per group.
    group_by: tuple[str, ...] | None = ("alertname",)
    group_wait_s: float = DEFAULT_GROUP_WAIT_S
    group_interval_s: float = DEFAULT_GROUP_INTERVAL_S
    repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S
    continue_matching: bool = False
    routes: tuple[Route, ...] = ()
    # Position in the tree ("0", "0.1"), part of the group key so two routes never share a group.
    path: str = "0"


@dataclass(frozen=True)
class Receiver:
    """A named sink instance: its plugin type and the options the plugin validates."""

    name: str
    type: str
    send_resolved: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InhibitRule:
    """While a source alert fires, targets with the same ``equal`` labels are muted.

    Matchers and ``equal`` may also name ``detector_family`` (``alerts.model.DETECTOR_FAMILY``), which every
    alert has for inhibition: its detector up to the first dot (``drift.data`` -> ``drift``).
    """

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]


# A critical alert mutes the warnings that share its cause: the same model and the same detector family. A
# burning SLO says nothing about a cost anomaly or a new drift, so those are still notified.
DEFAULT_INHIBIT_RULES: Final = (
    InhibitRule(
        (Matcher("severity", "critical"),),
        (Matcher("severity", "warning"),),
        ("model", DETECTOR_FAMILY),
    ),
)


@dataclass(frozen=True)
class AlertsConfig:
    """Everything the alert engine and dispatcher read from the configuration."""

    for_s: float = 60.0
    keep_firing_for_s: float = 300.0
    evaluation_interval_s: float = 10.0
    external_url: str = ""
    runbook_url: str = ""
    retry_initial_s: float = 5.0
    retry_max_s: float = 300.0
    give_up_after_s: float = 24 * 3600.0
    send_timeout_s: float = 10.0
    route: Route | None = None
    receivers: Mapping[str, Receiver] = field(default_factory=dict)
    inhibit_rules: tuple[InhibitRule, ...] = DEFAULT_INHIBIT_RULES


_TOP_KEYS: Final = {
    "for": "for_s",
    "keep_firing_for": "keep_firing_for_s",
    "evaluation_interval": "evaluation_interval_s",
    "retry_initial": "retry_initial_s",
    "retry_max": "retry_max_s",
    "give_up_after": "give_up_after_s",
    "send_timeout": "send_timeout_s",
}
_ROUTE_KEYS: Final = {
    "receiver",
    "matchers",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "continue",
    "routes",
}


def _check(key: str, raw: object, parse: Callable[[object], T]) -> T:
    """Parse one value, naming the key and the value when it is wrong."""
    try:
        return parse(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid alerts.{key}: {raw!r}: {error}") from None


def _string(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected a string, got {type(raw).__name__}")
    return raw


def _bool(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise ValueError("expected true or false")
    return raw


def _positive(raw: object) -> float:
    seconds = parse_duration(raw)
    if seconds <= 0:
        raise ValueError("must be > 0")
    return seconds


def _matchers(raw: object) -> tuple[Matcher, ...]:
    if not isinstance(raw, list):
        raise ValueError('expected a list of matchers like ["severity=\\"critical\\""]')
    return tuple(Matcher.parse(_string(item)) for item in raw)


def _labels(raw: object) -> tuple[str, ...] | None:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ValueError("expected a list of label names")
    return None if ALL_LABELS in raw else tuple(raw)


def _label_names(raw: object) -> tuple[str, ...]:
    names = _labels(raw)
    if names is None:
        raise ValueError('"..." means every label, which is not allowed here')
    return names


def _table(key: str, raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"invalid alerts.{key}: {raw!r}: expected a table")
    return raw


def _route(key: str, raw: object, parent: Route | None, path: str) -> Route:
    table = _table(key, raw)
    unknown = sorted(set(table) - _ROUTE_KEYS)
    if unknown:
        raise ConfigError(f"unknown key alerts.{key}.{unknown[0]} (known: {', '.join(sorted(_ROUTE_KEYS))})")
    inherited = parent or Route(receiver="")
    receiver = _check(f"{key}.receiver", table["receiver"], _string) if "receiver" in table else inherited.receiver
    if parent is None and not receiver:
        raise ConfigError("invalid alerts.route.receiver: the root route needs a receiver")
    if parent is None and "matchers" in table:
        raise ConfigError("invalid alerts.route.matchers: the root route matches every alert")
    route = Route(
        receiver=receiver,
        matchers=_check(f"{key}.matchers", table["matchers"], _matchers) if "matchers" in table else (),
        group_by=_check(f"{key}.group_by", table["group_by"], _labels) if "group_by" in table else inherited.group_by,
        group_wait_s=_check(f"{key}.group_wait", table.get("group_wait", inherited.group_wait_s), parse_duration),
        group_interval_s=_check(
            f"{key}.group_interval", table.get("group_interval", inherited.group_interval_s), _positive
        ),
        repeat_interval_s=_check(
            f"{key}.repeat_interval", table.get("repeat_interval", inherited.repeat_interval_s), _positive
        ),
        continue_matching=_check(f"{key}.continue", table.get("continue", False), _bool),
        path=path,
    )
    children = table.get("routes", [])
    if not isinstance(children, list):
        raise ConfigError(f"invalid alerts.{key}.routes: {children!r}: expected a list of tables")
    return replace(
        route,
        routes=tuple(_route(f"{key}.routes[{n}]", child, route, f"{path}.{n}") for n, child in enumerate(children)),
    )


def _receiver(name: str, raw: object) -> Receiver:
    table = _table(f"receivers.{name}", raw)
    if "type" not in table:
        raise ConfigError(f"invalid alerts.receivers.{name}: missing `type` (webhook, slack, alertmanager, ...)")
    return Receiver(
        name=name,
        type=_check(f"receivers.{name}.type", table["type"], _string),
        send_resolved=_check(f"receivers.{name}.send_resolved", table.get("send_resolved", True), _bool),
        options={k: v for k, v in table.items() if k not in {"type", "send_resolved"}},
    )


def _inhibit_rule(key: str, raw: object) -> InhibitRule:
    table = _table(key, raw)
    return InhibitRule(
        source_matchers=_check(f"{key}.source_matchers", table.get("source_matchers", []), _matchers),
        target_matchers=_check(f"{key}.target_matchers", table.get("target_matchers", []), _matchers),
        equal=_check(f"{key}.equal", table.get("equal", []), _label_names),
    )


def _routes_receivers(route: Route) -> set[str]:
    return {route.receiver}.union(*(_routes_receivers(child) for child in route.routes))


def parse_alerts_section(section: Mapping[str, Any]) -> AlertsConfig:
    """Build the AlertsConfig from the ``[alerts]`` table; raises ConfigError on the first bad value."""
    known = set(_TOP_KEYS) | {"external_url", "runbook_url", "route", "receivers", "inhibit_rules"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"unknown key alerts.{unknown[0]} (known: {', '.join(sorted(known))})")
    timings = {field: _check(key, section[key], parse_duration) for key, field in _TOP_KEYS.items() if key in section}
    for key in ("evaluation_interval", "retry_initial", "retry_max", "send_timeout", "give_up_after"):
        if key in section:
            _check(key, section[key], _positive)
    receivers = {name: _receiver(name, raw) for name, raw in _table("receivers", section.get("receivers", {})).items()}
    route = _route("route", section["route"], None, "0") if "route" in section else None
    if route is None and receivers:
        raise ConfigError("invalid alerts.route: receivers are configured but no [alerts.route] sends to them")
    if route is not None:
        missing = sorted(_routes_receivers(route) - set(receivers))
        if missing:
            raise ConfigError(f"invalid alerts.route: receiver {missing[0]!r} is not defined in [alerts.receivers]")
    rules = section.get("inhibit_rules")
    if rules is not None and not isinstance(rules, list):
        raise ConfigError(f"invalid alerts.inhibit_rules: {rules!r}: expected a list of tables")
    return AlertsConfig(
        **timings,
        external_url=_check("external_url", section.get("external_url", ""), _string).rstrip("/"),
        runbook_url=_check("runbook_url", section.get("runbook_url", ""), _string),
        route=route,
        receivers=receivers,
        inhibit_rules=DEFAULT_INHIBIT_RULES
        if rules is None
        else tuple(_inhibit_rule(f"inhibit_rules[{n}]", raw) for n, raw in enumerate(rules)),
    )
