"""Cost from rollups: what each interval of each model version cost, and the report per model and version.

Cost is not stored: a rollup keeps the usage the price applies to (busy time per hardware class, input and
output tokens), and ``Pricing.cost`` turns it into dollars when asked. So a corrected price reprices the
history it is asked about, and the cost of an interval is always the same function of what was stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from collector.core.pricing import Cost, Pricing
from detectors.frame import RollupFrame
from detectors.rollups import Rollup, RollupKey

HOUR_S = 3600


def rollup_cost(rollup: Rollup, pricing: Pricing) -> Cost:
    """The attribution rule applied to one rollup's usage."""
    return pricing.cost(
        rollup.key.model_name, rollup.key.hardware_class, rollup.busy_ns, rollup.input_tokens, rollup.output_tokens
    )


@dataclass(frozen=True)
class CostLine:
    """The cost of one model version over a report's range."""

    model_name: str
    model_version: str
    basis: str  # "tokens", "busy_time", or "unpriced"
    requests: int
    unpriced_requests: int
    input_tokens: int
    output_tokens: int
    busy_s: float
    input_usd: float
    output_usd: float
    compute_usd: float
    # Seconds from the version's first interval with traffic to the end of its last one.
    active_s: int
    first_bucket_s: int
    last_bucket_s: int

    @property
    def total_usd(self) -> float:
        """All of it."""
        return self.input_usd + self.output_usd + self.compute_usd

    @property
    def usd_per_1k_predictions(self) -> float | None:
        """Dollars per 1,000 priced requests; None without any."""
        priced = self.requests - self.unpriced_requests
        return self.total_usd / priced * 1000 if priced > 0 else None

    @property
    def usd_per_hour(self) -> float | None:
        """Spend rate while the version served traffic; None when it never did."""
        return self.total_usd / self.active_s * HOUR_S if self.active_s > 0 else None


@dataclass
class _Totals:
    requests: int = 0
    unpriced: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    busy_ns: int = 0
    input_usd: float = 0.0
    output_usd: float = 0.0
    compute_usd: float = 0.0
    first: int | None = None
    last_end: int = 0


def _add(
    totals: dict[tuple[str, str], _Totals],
    pricing: Pricing,
    key: RollupKey,
    used: tuple[int, int, int, int],
    *,
    first: int,
    last_end: int,
) -> None:
    """Price ``used`` (requests, busy ns, input and output tokens) of one key and add it to its version's line."""
    requests, busy_ns, input_tokens, output_tokens = used
    cost = pricing.cost(key.model_name, key.hardware_class, busy_ns, input_tokens, output_tokens)
    line = totals[(key.model_name, key.model_version)]
    line.requests += requests
    line.unpriced += 0 if cost.priced else requests
    line.input_tokens += input_tokens
    line.output_tokens += output_tokens
    line.busy_ns += busy_ns
    line.input_usd += cost.input_usd
    line.output_usd += cost.output_usd
    line.compute_usd += cost.compute_usd
    line.first = first if line.first is None else min(line.first, first)
    line.last_end = max(line.last_end, last_end)


def cost_report(rollups: Iterable[Rollup], pricing: Pricing) -> list[CostLine]:
    """One line per model and version, most expensive first; hardware classes and operations are summed."""
    totals: dict[tuple[str, str], _Totals] = defaultdict(_Totals)
    for rollup in rollups:
        if rollup.requests:
            used = (rollup.requests, rollup.busy_ns, rollup.input_tokens, rollup.output_tokens)
            start = rollup.bucket_start_unix_s
            _add(totals, pricing, rollup.key, used, first=start, last_end=start + rollup.interval_s)
    return _lines(totals, pricing)


def cost_report_frame(frame: RollupFrame, pricing: Pricing) -> list[CostLine]:
    """``cost_report`` on columns: usage is summed per key first, then priced once (prices are linear)."""
    totals: dict[tuple[str, str], _Totals] = defaultdict(_Totals)
    bounds = np.searchsorted(frame.key, np.arange(len(frame.keys) + 1))
    for index, key in enumerate(frame.keys):
        rows = slice(int(bounds[index]), int(bounds[index + 1]))
        buckets = frame.bucket[rows][frame.requests[rows] > 0]
        if buckets.size:
            requests, busy_ns, input_tokens, output_tokens = (
                int(column[rows].sum())
                for column in (frame.requests, frame.busy_ns, frame.input_tokens, frame.output_tokens)
            )
            first, last_end = int(buckets.min()), int(buckets.max()) + frame.interval_s
            used = (requests, busy_ns, input_tokens, output_tokens)
            _add(totals, pricing, key, used, first=first, last_end=last_end)
    return _lines(totals, pricing)


def _lines(totals: dict[tuple[str, str], _Totals], pricing: Pricing) -> list[CostLine]:
    lines = []
    for (model, version), t in totals.items():
        first = t.first if t.first is not None else 0
        if pricing.is_token_priced(model):
            basis = "tokens"
        elif t.unpriced == t.requests:
            basis = "unpriced"
        else:
            basis = "busy_time"
        lines.append(
            CostLine(
                model_name=model,
                model_version=version,
                basis=basis,
                requests=t.requests,
                unpriced_requests=t.unpriced,
                input_tokens=t.input_tokens,
                output_tokens=t.output_tokens,
                busy_s=t.busy_ns / 1e9,
                input_usd=t.input_usd,
                output_usd=t.output_usd,
                compute_usd=t.compute_usd,
                active_s=t.last_end - first,
                first_bucket_s=first,
                last_bucket_s=t.last_end,
            )
        )
    return sorted(lines, key=lambda line: (-line.total_usd, line.model_name, line.model_version))


def cost_line_to_json(line: CostLine) -> dict[str, object]:
    """A report line as the JSON the CLI prints."""
    return {
        "model": line.model_name,
        "version": line.model_version,
        "basis": line.basis,
        "requests": line.requests,
        "unpriced_requests": line.unpriced_requests,
        "input_tokens": line.input_tokens,
        "output_tokens": line.output_tokens,
        "busy_s": line.busy_s,
        "input_usd": line.input_usd,
        "output_usd": line.output_usd,
        "compute_usd": line.compute_usd,
        "total_usd": line.total_usd,
        "usd_per_1k_predictions": line.usd_per_1k_predictions,
        "usd_per_hour": line.usd_per_hour,
        "active_s": line.active_s,
    }


def format_cost_report(lines: Sequence[CostLine]) -> str:
    """The human table: one row per model version."""
    if not lines:
        return "no traffic in range"

    def money(value: float | None) -> str:
        return "-" if value is None else f"${value:,.4f}"

    # Names in full, however long: two versions that share a prefix must stay apart.
    model_w = max(24, *(len(line.model_name) for line in lines))
    version_w = max(12, *(len(line.model_version or "-") for line in lines))
    header = (
        f"{'model':<{model_w}} {'version':<{version_w}} {'basis':<9} {'requests':>10} {'total':>12} {'per 1k':>10} "
        f"{'per hour':>10}"
    )
    rows = [
        f"{line.model_name:<{model_w}} {line.model_version or '-':<{version_w}} {line.basis:<9} {line.requests:>10,} "
        f"{money(line.total_usd):>12} {money(line.usd_per_1k_predictions):>10} {money(line.usd_per_hour):>10}"
        for line in lines
    ]
    unpriced = sum(line.unpriced_requests for line in lines)
    footer = (
        [f"{unpriced:,} requests had no price (hardware class without a [pricing.hardware] entry)"] if unpriced else []
    )
    return "\n".join([header, *rows, *footer])
