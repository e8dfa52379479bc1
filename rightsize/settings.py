"""The ``[rightsize]`` section of ``inferwatch.toml`` and the latency objective a search aims at.

Read once by the composition root and the CLI and passed down explicitly::

    [rightsize]
    headroom = 0.3                # keep each replica at most 70% busy at the peak
    margin = 0.1                  # switch only when the bound of an option saves more than 10%
    peak_quantile = 0.99          # the peak: this quantile of the per-minute request rates
    batching_delays_ms = [0, 1, 2, 5, 10, 20, 50]
    min_requests = 1000           # less traffic than this in the window is too little to size for
    min_active_minutes = 60
    min_replicas = 1              # autoscaling never goes below this
    options = 5                   # how many of the cheapest options to show

    [rightsize.replicas]          # how many replicas serve each model today (else the model's own count is assumed)
    fraud = 4
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from collector.core.errors import ConfigError
from collector.core.pricing import Pricing

HOURS_PER_MONTH = 730.0  # 365 x 24 / 12


@dataclass(frozen=True)
class LatencyObjective:
    """A model's latency SLO as right-sizing needs it: the ``quantile`` of latency must stay under ``threshold_ms``."""

    model_name: str
    threshold_ms: float
    quantile: float

    def __post_init__(self) -> None:
        if not (self.threshold_ms > 0 and math.isfinite(self.threshold_ms)):
            raise ValueError(f"`threshold_ms` must be > 0, got {self.threshold_ms}")
        if not 0 < self.quantile < 1:
            raise ValueError(f"`quantile` must be in (0, 1), got {self.quantile}")


@dataclass(frozen=True)
class RightsizeSettings:
    """How the search runs; every field has the default the module docstring shows."""

    headroom: float = 0.3
    margin: float = 0.1
    peak_quantile: float = 0.99
    batching_delays_ms: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
    min_requests: int = 1000
    min_active_minutes: int = 60
    min_replicas: int = 1
    options: int = 5
    replicas: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.headroom < 1:
            raise ValueError(f"`headroom` must be in [0, 1), got {self.headroom}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"`margin` must be in [0, 1), got {self.margin}")
        if not 0.5 <= self.peak_quantile <= 1:
            raise ValueError(f"`peak_quantile` must be in [0.5, 1], got {self.peak_quantile}")
        if not self.batching_delays_ms or any(not (d >= 0 and math.isfinite(d)) for d in self.batching_delays_ms):
            raise ValueError(f"`batching_delays_ms` must be numbers >= 0, got {list(self.batching_delays_ms)}")
        for name in ("min_requests", "min_active_minutes", "min_replicas", "options"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        for model, count in self.replicas.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"`replicas.{model}` must be a whole number >= 1, got {count!r}")
        object.__setattr__(self, "batching_delays_ms", tuple(sorted({float(d) for d in self.batching_delays_ms})))
        object.__setattr__(self, "replicas", MappingProxyType(dict(self.replicas)))


_FLOATS = frozenset(("headroom", "margin", "peak_quantile"))
_INTS = frozenset(("min_requests", "min_active_minutes", "min_replicas", "options"))
_KEYS = frozenset(f.name for f in fields(RightsizeSettings))


def parse_rightsize_section(section: Mapping[str, Any]) -> RightsizeSettings:
    """``[rightsize]``; a bad key or value raises ConfigError naming it."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"[rightsize] must be a table, got {section!r}")
    unknown = set(section) - _KEYS
    if unknown:
        raise ConfigError(
            f"[rightsize] has unknown key(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})"
        )
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key in _FLOATS and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"[rightsize] {key} must be a number, got {value!r}")
        if key in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"[rightsize] {key} must be a whole number, got {value!r}")
        if key == "batching_delays_ms":
            if not isinstance(value, list) or any(isinstance(d, bool) or not isinstance(d, int | float) for d in value):
                raise ConfigError(f"[rightsize] batching_delays_ms must be a list of numbers, got {value!r}")
            values[key] = tuple(value)
            continue
        if key == "replicas" and not isinstance(value, Mapping):
            raise ConfigError(f"[rightsize.replicas] must be a table of model = count, got {value!r}")
        values[key] = value
    try:
        return RightsizeSettings(**values)
    except ValueError as error:
        raise ConfigError(f"[rightsize] {error}") from None


@dataclass(frozen=True)
class RightsizeContext:
    """What the configuration gives right-sizing: latency SLOs by model, prices, settings, provider classes."""

    objectives: Mapping[str, LatencyObjective] = field(default_factory=dict)
    pricing: Pricing = field(default_factory=Pricing)
    settings: RightsizeSettings = field(default_factory=RightsizeSettings)
    provider_hardware: Mapping[str, str] = field(default_factory=dict)
