"""Cost anomalies: expected against actual spend per model, with thresholds on both $ and % impact.

As AWS Cost Anomaly Detection does, per model and evaluation window (the last ``window_s`` seconds):

- Expected spend is the median spend of comparable past windows: the same time of day on previous days
  once three of them had traffic (spend follows traffic, which follows the day), else the trailing
  ``history_windows`` windows. A median, so a past incident does not raise what is expected. Windows
  without traffic are not comparable (the model was not deployed, or was idle) and are left out; a model
  with fewer than ``min_history_windows`` comparable windows is still being learned and is not judged.
- Impact = actual - expected, in $ and in % of expected. The finding fires only when *both* reach their
  threshold (``ANOMALY_TOTAL_IMPACT_ABSOLUTE`` AND ``ANOMALY_TOTAL_IMPACT_PERCENTAGE``): a 300% jump of a
  model that costs cents, or $5 more on a model that costs $500 an hour, is not worth waking anyone.
  Only increases are anomalies.
- Contributors: the impact is split along three dimensions, model version, operation and what was paid
  for (input tokens, output tokens, compute time). A value's expected spend is the expected total times
  its share of the comparable windows' spend, so each dimension's contributions add up to the impact, and
  a new version that replaced an old one shows as +new and -old.

Configured in ``inferwatch.toml``::

    [pricing.anomaly]
    window_minutes = 60
    min_impact_usd = 1.0
    min_impact_percent = 20
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from collector.core.domain import Finding
from collector.core.errors import ConfigError
from collector.core.pricing import Pricing
from detectors.frame import RollupFrame
from detectors.rollups import Rollup, RollupKey

COST = "cost"
DAY_S = 86400
USAGE = (("input_tokens", "input_usd"), ("output_tokens", "output_usd"), ("compute", "compute_usd"))


@dataclass(frozen=True)
class CostAnomalyOptions:
    """Detector hyperparameters; the defaults are those the module docstring explains."""

    window_s: int = 3600
    min_impact_usd: float = 1.0
    min_impact_percent: float = 20.0
    history_windows: int = 24
    min_history_windows: int = 3
    # Previous days looked at for the same time of day.
    seasonal_days: int = 7

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError(f"`window_s` must be > 0, got {self.window_s}")
        for name in ("min_impact_usd", "min_impact_percent"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0, got {value}")
        if not 1 <= self.min_history_windows <= self.history_windows:
            raise ValueError(
                f"`min_history_windows` must be in [1, history_windows={self.history_windows}], "
                f"got {self.min_history_windows}"
            )

    def windows_back(self) -> tuple[int, list[int]]:
        """How many windows back the detector may look, and which of them are the same time of day."""
        per_day = DAY_S // self.window_s if DAY_S % self.window_s == 0 else 0
        seasonal = [per_day * day for day in range(1, self.seasonal_days + 1)] if per_day else []
        return max([self.history_windows, *seasonal]), seasonal


def parse_cost_anomaly_section(pricing_section: Mapping[str, Any]) -> CostAnomalyOptions:
    """``[pricing.anomaly]``; a bad entry raises ConfigError naming its key and value."""
    table = pricing_section.get("anomaly", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"[pricing.anomaly] must be a table, got {table!r}")
    known = {"window_minutes", "min_impact_usd", "min_impact_percent"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(
            f"[pricing.anomaly] has unknown key(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"[pricing.anomaly] {key} must be a finite number >= 0, got {value!r}")
        if key == "window_minutes":
            if value < 1 or value != int(value):
                raise ConfigError(f"[pricing.anomaly] window_minutes must be a whole number >= 1, got {value!r}")
            values["window_s"] = int(value) * 60
        else:
            values[key] = float(value)
    return CostAnomalyOptions(**values)


@dataclass(frozen=True)
class Contributor:
    """One value of one dimension and its share of the impact."""

    dimension: str  # "version", "operation" or "usage"
    value: str
    actual_usd: float
    expected_usd: float

    @property
    def impact_usd(self) -> float:
        """What this value added to (or, when negative, took from) the spend."""
        return self.actual_usd - self.expected_usd


@dataclass(frozen=True)
class CostVerdict:
    """One model's spend in one window against what was expected."""

    model_name: str
    window_start_s: int
    window_end_s: int
    actual_usd: float
    expected_usd: float
    baseline_windows: int
    seasonality: str
    firing: bool
    contributors: tuple[Contributor, ...]

    @property
    def impact_usd(self) -> float:
        """Actual minus expected."""
        return self.actual_usd - self.expected_usd

    @property
    def impact_percent(self) -> float | None:
        """Impact in % of expected; None when nothing was expected."""
        return self.impact_usd / self.expected_usd * 100 if self.expected_usd > 0 else None


@dataclass(frozen=True)
class Usage:
    """What one rollup key used in one window: the quantities its price applies to."""

    requests: int
    busy_ns: int
    input_tokens: int
    output_tokens: int


class CostAnomalyDetector:
    """Evaluates every model's spend in the window ending at a given time; stateless between calls."""

    def __init__(self, pricing: Pricing, options: CostAnomalyOptions | None = None) -> None:
        self.pricing = pricing
        self.options = options or CostAnomalyOptions()

    def evaluate(self, rollups: Iterable[Rollup], end_s: int) -> list[CostVerdict]:
        """One verdict per model with enough comparable history, for the window ``[end_s - window_s, end_s)``."""
        furthest, _ = self.options.windows_back()
        sums: dict[tuple[RollupKey, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for rollup in rollups:
            back = (end_s - 1 - rollup.bucket_start_unix_s) // self.options.window_s
            if not 0 <= back <= furthest or rollup.requests == 0:
                continue
            total = sums[(rollup.key, back)]
            total[0] += rollup.requests
            total[1] += rollup.busy_ns
            total[2] += rollup.input_tokens
            total[3] += rollup.output_tokens
        return self.judge({where: Usage(*values) for where, values in sums.items()}, end_s)

    def evaluate_frame(self, frame: RollupFrame, end_s: int) -> list[CostVerdict]:
        """``evaluate`` on columns: usage is summed per key and window in numpy, then priced once per sum."""
        furthest, _ = self.options.windows_back()
        back = (end_s - 1 - frame.bucket) // self.options.window_s
        rows = (back >= 0) & (back <= furthest) & (frame.requests > 0)
        cell = frame.key[rows] * (furthest + 1) + back[rows]
        cells = len(frame.keys) * (furthest + 1)
        # float64 sums are exact below 2**53: 100 days of busy nanoseconds per window and key.
        totals = [
            np.bincount(cell, weights=column[rows], minlength=cells)
            for column in (frame.requests, frame.busy_ns, frame.input_tokens, frame.output_tokens)
        ]
        usage = {}
        for index in np.flatnonzero(totals[0]).tolist():
            key, window_back = divmod(index, furthest + 1)
            usage[(frame.keys[key], window_back)] = Usage(*(int(total[index]) for total in totals))
        return self.judge(usage, end_s)

    def judge(self, usage: Mapping[tuple[RollupKey, int], Usage], end_s: int) -> list[CostVerdict]:
        """Verdicts from the usage of each key in each window back (0 = the evaluated one)."""
        _, seasonal = self.options.windows_back()
        # Per model and window back: spend, traffic, and spend per dimension value.
        spend: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        traffic: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        parts: dict[str, dict[int, dict[tuple[str, str], float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float))
        )
        for (key, back), used in usage.items():
            cost = self.pricing.cost(
                key.model_name, key.hardware_class, used.busy_ns, used.input_tokens, used.output_tokens
            )
            model = key.model_name
            spend[model][back] += cost.total_usd
            traffic[model][back] += used.requests
            split = parts[model][back]
            split[("version", key.model_version)] += cost.total_usd
            split[("operation", key.operation)] += cost.total_usd
            for name, field in USAGE:
                if getattr(cost, field):
                    split[("usage", name)] += getattr(cost, field)
        verdicts = []
        for model in sorted(traffic):
            seen = traffic[model]
            comparable = [back for back in seasonal if seen.get(back)]
            seasonality = "time_of_day"
            if len(comparable) < self.options.min_history_windows:
                comparable = [back for back in range(1, self.options.history_windows + 1) if seen.get(back)]
                seasonality = "none"
            if len(comparable) < self.options.min_history_windows:
                continue  # still learning what this model costs
            verdicts.append(
                self._verdict(
                    model, end_s, spend=spend[model], parts=parts[model], comparable=comparable, seasonality=seasonality
                )
            )
        return verdicts

    def _verdict(
        self,
        model: str,
        end_s: int,
        *,
        spend: Mapping[int, float],
        parts: Mapping[int, Mapping[tuple[str, str], float]],
        comparable: list[int],
        seasonality: str,
    ) -> CostVerdict:
        options = self.options
        actual = spend.get(0, 0.0)
        expected = statistics.median(spend.get(back, 0.0) for back in comparable)
        history_total = sum(spend.get(back, 0.0) for back in comparable)
        shares: dict[tuple[str, str], float] = defaultdict(float)
        for back in comparable:
            for key, usd in parts.get(back, {}).items():
                shares[key] += usd / history_total if history_total > 0 else 0.0
        current = parts.get(0, {})
        contributors = [
            Contributor(
                dimension, value, current.get((dimension, value), 0.0), expected * shares.get((dimension, value), 0.0)
            )
            for dimension, value in sorted(set(shares) | set(current))
        ]
        contributors.sort(key=lambda c: (-c.impact_usd, c.dimension, c.value))
        impact = actual - expected
        percent_ok = expected <= 0 or impact / expected * 100 >= options.min_impact_percent
        return CostVerdict(
            model_name=model,
            window_start_s=end_s - options.window_s,
            window_end_s=end_s,
            actual_usd=actual,
            expected_usd=expected,
            baseline_windows=len(comparable),
            seasonality=seasonality,
            firing=impact > 0 and impact >= options.min_impact_usd and percent_ok,
            contributors=tuple(contributors),
        )


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _named(contributor: Contributor) -> str:
    if contributor.dimension == "usage":
        return contributor.value.replace("_", " ")
    return f"{contributor.dimension} {contributor.value or '(none)'}"


MONEY_DIGITS = 3


def usd(amount: float) -> str:
    """Dollars with the digits that carry information: cents from $1 up, else three significant digits.

    A fixed four decimals printed a model that costs $0.00002 a minute as ``$0.0000 ... (+23%)``.
    """
    if amount == 0 or not math.isfinite(amount):
        return f"${amount:,.2f}" if math.isfinite(amount) else f"${amount}"
    sign = "-" if amount < 0 else ""
    size = abs(amount)
    if size >= 1:
        return f"{sign}${size:,.2f}"
    decimals = MONEY_DIGITS - 1 - math.floor(math.log10(size))
    return f"{sign}${size:.{decimals}f}"


def cost_finding(verdict: CostVerdict, options: CostAnomalyOptions) -> Finding:
    """A verdict as a finding: actual and expected spend, $ and % impact, and the top contributors."""
    percent = verdict.impact_percent
    impact = verdict.impact_usd
    shown_percent = f", {percent:+.0f}%" if percent is not None else ""
    summary = (
        f"spend {usd(verdict.actual_usd)} over {options.window_s // 60} min, expected {usd(verdict.expected_usd)} "
        f"(impact {'+' if impact >= 0 else '-'}{usd(abs(impact))}{shown_percent})"
    )
    # Contributors come sorted by impact, so the first that added spend is each dimension's main one.
    top = [
        next((c for c in verdict.contributors if c.dimension == dimension and c.impact_usd > 0), None)
        for dimension in ("version", "operation", "usage")
    ]
    named = [f"{_named(found)} +{usd(found.impact_usd)}" for found in top if found is not None]
    if verdict.firing and named:
        summary += "; from " + ", ".join(named)
    return Finding(
        detector=COST,
        model_name=verdict.model_name,
        model_version="",
        subject="spend",
        severity="warning" if verdict.firing else "info",
        firing=verdict.firing,
        window_start=_utc(verdict.window_start_s),
        window_end=_utc(verdict.window_end_s),
        summary=summary,
        value=verdict.actual_usd,
        expected=verdict.expected_usd,
        # Above band_high the $ and % thresholds both hold.
        band_high=verdict.expected_usd
        + max(options.min_impact_usd, verdict.expected_usd * options.min_impact_percent / 100),
        details={
            # What the spend is compared with, in words: the alert's baseline.
            "baseline": f"{usd(verdict.expected_usd)} expected from {verdict.baseline_windows} earlier windows"
            + ("" if verdict.seasonality == "none" else f" at the same {verdict.seasonality.replace('_', ' ')}"),
            "impact_usd": verdict.impact_usd,
            "impact_percent": percent,
            "thresholds": {"min_impact_usd": options.min_impact_usd, "min_impact_percent": options.min_impact_percent},
            "window_s": options.window_s,
            "baseline_windows": verdict.baseline_windows,
            "seasonality": verdict.seasonality,
            "contributors": [
                {
                    "dimension": c.dimension,
                    "value": c.value,
                    "actual_usd": c.actual_usd,
                    "expected_usd": c.expected_usd,
                    "impact_usd": c.impact_usd,
                }
                for c in verdict.contributors
            ],
        },
    )
