"""The feature sections of the configuration ([slo.*], [drift], [alerts], [pricing], [shadow], [rightsize]), parsed and
checked in one place, so `serve`, `config show` and every command reject the same typos the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.config import AlertsConfig, Route, parse_alerts_section
from alerts.sinks import AlertSink, build_sinks
from collector.core.config import Config
from collector.core.pricing import Pricing, parse_pricing_section
from detectors.cost_anomaly import CostAnomalyOptions, parse_cost_anomaly_section
from detectors.drift.monitor import DriftOptions, parse_drift_section
from detectors.slo import SLO, parse_slo_section
from rightsize.settings import LatencyObjective, RightsizeContext, RightsizeSettings, parse_rightsize_section
from shadow.settings import ShadowSettings, parse_shadow_section


@dataclass(frozen=True)
class FeatureSettings:
    """Every feature section, parsed; ``sinks`` are the alert receivers' plugins, built (options checked)."""

    slos: tuple[SLO, ...]
    drift: DriftOptions
    alerting: AlertsConfig
    sinks: Mapping[str, AlertSink]
    pricing: Pricing
    cost_anomalies: CostAnomalyOptions
    shadow: ShadowSettings
    rightsize: RightsizeSettings = dataclasses.field(default_factory=RightsizeSettings)


def parse_features(config: Config) -> FeatureSettings:
    """Parse and check every feature section; a bad one raises ConfigError naming the key and its value."""
    sections = config.feature_sections
    alerting = parse_alerts_section(sections.get("alerts", {}))
    pricing_section = sections.get("pricing", {})
    pricing = parse_pricing_section(pricing_section)
    return FeatureSettings(
        slos=tuple(parse_slo_section(sections.get("slo", {}))),
        drift=parse_drift_section(sections.get("drift", {})),
        alerting=alerting,
        sinks=build_sinks(alerting),
        pricing=pricing,
        cost_anomalies=parse_cost_anomaly_section(pricing_section),
        shadow=parse_shadow_section(sections.get("shadow", {}), pricing),
        rightsize=parse_rightsize_section(sections.get("rightsize", {})),
    )


def rightsize_context(features: FeatureSettings) -> RightsizeContext:
    """What right-sizing reads of the configuration: each model's latency SLO, prices, [rightsize]."""
    objectives = {
        slo.model_name: LatencyObjective(slo.model_name, slo.latency_threshold_ms, slo.target)
        for slo in features.slos
        if slo.kind == "latency" and slo.latency_threshold_ms is not None
    }
    return RightsizeContext(objectives, features.pricing, features.rightsize, features.shadow.provider_hardware)


def describe_features(features: FeatureSettings) -> dict[str, Any]:
    """The effective feature settings for `config show`: every section, defaults included. Receivers are shown
    by name and type only, since their options hold webhook URLs and tokens."""
    alerting = features.alerting
    return {
        "slo": _plain(features.slos),
        "drift": _plain(features.drift),
        "alerts": {
            "receivers": {name: receiver.type for name, receiver in sorted(alerting.receivers.items())},
            "routes": count_routes(alerting.route) if alerting.route is not None else 0,
            "inhibit_rules": len(alerting.inhibit_rules),
            "external_url": alerting.external_url,
        },
        "pricing": {
            "hardware_usd_per_hour": dict(features.pricing.hardware),
            "spot_usd_per_hour": dict(features.pricing.spot),
            "tokens": _plain(features.pricing.tokens),
            "anomaly": _plain(features.cost_anomalies),
        },
        "shadow": _plain(features.shadow),
        "rightsize": _plain(features.rightsize),
    }


def count_routes(route: Route) -> int:
    """The routes of a routing tree, the root included."""
    return 1 + sum(count_routes(child) for child in route.routes)


def _plain(value: Any) -> Any:
    """Dataclasses, mappings (read-only ones included) and tuples as JSON-ready dicts and lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
