"""SLO burn-rate alerts: multi-window, multi-burn-rate, with the SRE Workbook's numbers for 30 days.

Burn rate over a window = (bad events / all events) / (1 - target): 1 spends the budget exactly over the
SLO period. A pair fires when both its long and its short window burn faster than its factor, so a fast
burn pages within minutes and stops paging soon after it ends (the short window), while a slow one opens a
ticket. The pairs (SRE Workbook, table 5-8, for a 30-day period):

    page    1 h and 5 min   at 14.4x  (2% of the budget in an hour)
    page    6 h and 30 min  at 6x     (5% in six hours)
    ticket  3 d and 6 h     at 1x     (10% in three days)

Bad events: errors for an availability SLO; requests slower than the threshold for a latency SLO, counted
from the mergeable latency summaries (whole buckets above the threshold's bucket, so within 2%).
Configured per model in ``inferwatch.toml``::

    [slo.fraud]
    latency_threshold_ms = 300
    latency_target = 0.99        # 99% of requests under 300 ms
    availability_target = 0.999  # 99.9% of requests succeed
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from collector.core.errors import ConfigError
from detectors.rollups import Rollup

MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR
PERIOD_S = 30 * DAY


@dataclass(frozen=True)
class BurnWindow:
    """One long/short window pair and the burn rate both must exceed."""

    severity: str
    long_s: int
    short_s: int
    factor: float

    @property
    def name(self) -> str:
        """``"1h/5m"``: what on-call reads in the finding."""
        return f"{_duration(self.long_s)}/{_duration(self.short_s)}"


BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("critical", HOUR, 5 * MINUTE, 14.4),
    BurnWindow("critical", 6 * HOUR, 30 * MINUTE, 6.0),
    BurnWindow("warning", 3 * DAY, 6 * HOUR, 1.0),
)


def _duration(seconds: int) -> str:
    if seconds % DAY == 0:
        return f"{seconds // DAY}d"
    if seconds % HOUR == 0:
        return f"{seconds // HOUR}h"
    return f"{seconds // MINUTE}m"


@dataclass(frozen=True)
class SLO:
    """One objective of one model: either a latency threshold with a target, or an availability target."""

    model_name: str
    kind: str  # "latency" or "availability"
    target: float
    latency_threshold_ms: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.target < 1.0:
            raise ValueError(f"`target` must be in (0, 1), got {self.target}")
        if self.kind == "latency" and not (self.latency_threshold_ms and self.latency_threshold_ms > 0):
            raise ValueError(f"a latency SLO needs `latency_threshold_ms` > 0, got {self.latency_threshold_ms}")

    @property
    def name(self) -> str:
        """``"latency<300ms@99%"`` or ``"availability@99.9%"``."""
        target = f"{self.target * 100:g}%"
        if self.kind == "latency":
            return f"latency<{self.latency_threshold_ms:g}ms@{target}"
        return f"availability@{target}"


def parse_slo_section(section: Mapping[str, Any]) -> list[SLO]:
    """The ``[slo.<model>]`` tables of the config file; a bad entry raises ConfigError naming it."""
    slos: list[SLO] = []
    for model, table in section.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"[slo.{model}] must be a table, got {type(table).__name__}")
        known = {"latency_threshold_ms", "latency_target", "availability_target"}
        unknown = set(table) - known
        if unknown:
            raise ConfigError(
                f"[slo.{model}] has unknown key(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
            )
        try:
            if "latency_target" in table or "latency_threshold_ms" in table:
                slos.append(
                    SLO(
                        model,
                        "latency",
                        float(table.get("latency_target", 0.0)),
                        float(table.get("latency_threshold_ms", 0.0)),
                    )
                )
            if "availability_target" in table:
                slos.append(SLO(model, "availability", float(table["availability_target"])))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"[slo.{model}]: {error}") from None
    return slos


def burn_rate(bad: int, total: int, target: float) -> float:
    """How many times faster than sustainable the budget burns; 0 without traffic."""
    if total <= 0:
        return 0.0
    return (bad / total) / (1.0 - target)


@dataclass(frozen=True)
class BurnVerdict:
    """One window pair's evaluation."""

    window: BurnWindow
    long_burn: float
    short_burn: float
    firing: bool


def _span(seconds: int) -> str:
    """``45 min``, ``3.0 h``, ``6.5 d``: how much history a figure stands on."""
    if seconds < HOUR:
        return f"{seconds // MINUTE} min"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} d"


@dataclass(frozen=True)
class SLOStatus:
    """An SLO's burn over every window pair, and what is left of its budget over the period.

    ``history_s`` is how much of the period the data covers, from the first interval with traffic to now;
    ``period_burn`` the burn rate over that history. ``budget_remaining`` speaks for the whole period only
    when the history covers it: 3 hours at 8x say nothing about what is left of a 30-day budget.
    """

    slo: SLO
    verdicts: tuple[BurnVerdict, ...]
    budget_remaining: float
    period_bad: int
    period_total: int
    history_s: int = 0
    period_burn: float = 0.0

    @property
    def firing(self) -> tuple[BurnVerdict, ...]:
        """The pairs that fire, most urgent first."""
        return tuple(verdict for verdict in self.verdicts if verdict.firing)

    @property
    def covers_period(self) -> bool:
        """Whether the data reaches back over the whole period, so the budget left can be stated."""
        return self.history_s >= PERIOD_S

    def budget_summary(self) -> str:
        """The budget as the data can speak for it: what is left when the history covers the 30 days, else the
        burn over the history there is, and how long the budget would last at that burn."""
        if self.period_total == 0:
            return "no traffic in the last 30 days: the error budget is untouched"
        if self.covers_period:
            return (
                f"{self.budget_remaining * 100:.1f}% of the 30-day error budget left "
                f"(burn {self.period_burn:.2f}x over 30 d)"
            )
        if self.period_burn > 1.0:
            lasts = f"at this burn a 30-day budget is spent in {PERIOD_S / self.period_burn / DAY:.1f} d"
        else:
            lasts = "at this burn the budget lasts the 30 days"
        return (
            f"burn {self.period_burn:.2f}x over the {_span(self.history_s)} of data so far ({lasts}; the 30-day "
            "budget left is stated once the data covers 30 days)"
        )


def _bad_per_rollup(slo: SLO, rollups: Sequence[Rollup]) -> list[int]:
    if slo.kind == "availability":
        return [r.errors for r in rollups]
    assert slo.latency_threshold_ms is not None
    return [r.latency.count_above(slo.latency_threshold_ms) for r in rollups]


def evaluate_slo(slo: SLO, rollups: Sequence[Rollup], now_s: int) -> SLOStatus:
    """Burn over each window pair ending at ``now_s``; ``rollups`` are this model's, over at least the period."""
    own = [r for r in rollups if r.key.model_name == slo.model_name]
    # Bad events are counted once per rollup, then summed per window: seven windows share the same rollups.
    starts = np.array([r.bucket_start_unix_s for r in own], dtype=np.int64)
    totals = np.array([r.requests for r in own], dtype=np.int64)
    bad = np.array(_bad_per_rollup(slo, own), dtype=np.int64)

    def within(seconds: int) -> tuple[int, int]:
        inside = (starts >= now_s - seconds) & (starts < now_s)
        return int(bad[inside].sum()), int(totals[inside].sum())

    verdicts = []
    for window in BURN_WINDOWS:
        long_burn = burn_rate(*within(window.long_s), slo.target)
        short_burn = burn_rate(*within(window.short_s), slo.target)
        verdicts.append(
            BurnVerdict(window, long_burn, short_burn, long_burn > window.factor and short_burn > window.factor)
        )
    period_bad, period_total = within(PERIOD_S)
    period_burn = burn_rate(period_bad, period_total, slo.target)
    remaining = 1.0 - period_burn if period_total else 1.0
    served = starts[(totals > 0) & (starts >= now_s - PERIOD_S) & (starts < now_s)]
    history_s = int(now_s - served.min()) if served.size else 0
    return SLOStatus(
        slo,
        tuple(verdicts),
        remaining if math.isfinite(remaining) else 0.0,
        period_bad,
        period_total,
        history_s=history_s,
        period_burn=period_burn,
    )
