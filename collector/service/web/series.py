"""A model's time series over a range, from rollups and drift findings: what the model page draws."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.pricing import Pricing
from collector.core.storage.tables import FindingRow
from collector.service.web.models import ROLLUP_S, load_view_rollups, merged_latency
from detectors.hourly_rollups import HOUR_S
from detectors.rollups import Rollup
from detectors.slo import SLO

POINTS = 60
DRIFT_DETECTOR = "drift.data"

Values = tuple[float | None, ...]


@dataclass(frozen=True)
class BurnLine:
    """One SLO's error-budget burn rate per step: 1.0 spends the budget exactly over the SLO period."""

    slo: SLO
    burn: Values


@dataclass(frozen=True)
class ModelSeries:
    """Per-step values of one model (one version, or all) over a range; ``times`` are the steps' starts."""

    times: tuple[int, ...]
    step_s: int
    requests: Values
    error_rate: Values
    p50_ms: Values
    p95_ms: Values
    p99_ms: Values
    burn: tuple[BurnLine, ...]
    spend_by_hardware: dict[str, Values] = field(default_factory=dict)
    spend_by_token: dict[str, Values] = field(default_factory=dict)
    drift_by_feature: dict[str, Values] = field(default_factory=dict)

    @property
    def latency_threshold_ms(self) -> float | None:
        """The tightest latency SLO threshold, drawn on the latency chart."""
        thresholds = [b.slo.latency_threshold_ms for b in self.burn if b.slo.latency_threshold_ms is not None]
        return min(thresholds) if thresholds else None


def step_for(range_s: int) -> int:
    """About ``POINTS`` steps over the range, each a whole number of rollup intervals; whole hours from an
    hour on, so a step holds whole hourly rollups."""
    step = max(ROLLUP_S, range_s // POINTS // ROLLUP_S * ROLLUP_S)
    return step // HOUR_S * HOUR_S if step >= HOUR_S else step


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _per_step(
    rollups: Sequence[Rollup], times: tuple[int, ...], step: int, pricing: Pricing, slos: Sequence[SLO]
) -> ModelSeries:
    buckets: dict[int, list[Rollup]] = defaultdict(list)
    for rollup in rollups:
        buckets[(rollup.bucket_start_unix_s - times[0]) // step].append(rollup)
    requests: list[float | None] = []
    errors_rate: list[float | None] = []
    p50: list[float | None] = []
    p95: list[float | None] = []
    p99: list[float | None] = []
    burns: list[list[float | None]] = [[] for _ in slos]
    hardware: dict[str, list[float | None]] = defaultdict(lambda: [None] * len(times))
    tokens: dict[str, list[float | None]] = {"input": [None] * len(times), "output": [None] * len(times)}
    for index in range(len(times)):
        inside = buckets.get(index, [])
        total = sum(r.requests for r in inside)
        errors = sum(r.errors for r in inside)
        sketch = merged_latency(inside) if total else None
        requests.append(float(total))
        errors_rate.append(_ratio(errors, total))
        for column, q in ((p50, 0.5), (p95, 0.95), (p99, 0.99)):
            column.append(sketch.quantile(q) if sketch is not None else None)
        for slo, line in zip(slos, burns, strict=True):
            bad = (
                errors
                if slo.kind == "availability"
                else (sketch.count_above(slo.latency_threshold_ms or 0.0) if sketch is not None else 0)
            )
            share = _ratio(bad, total)
            line.append(share / (1 - slo.target) if share is not None else None)
        for rollup in inside:
            cost = pricing.cost(
                rollup.key.model_name,
                rollup.key.hardware_class,
                rollup.busy_ns,
                rollup.input_tokens,
                rollup.output_tokens,
            )
            if cost.compute_usd or not pricing.is_token_priced(rollup.key.model_name):
                hardware[rollup.key.hardware_class][index] = (hardware[rollup.key.hardware_class][index] or 0.0) + (
                    cost.compute_usd
                )
            if pricing.is_token_priced(rollup.key.model_name):
                tokens["input"][index] = (tokens["input"][index] or 0.0) + cost.input_usd
                tokens["output"][index] = (tokens["output"][index] or 0.0) + cost.output_usd
    return ModelSeries(
        times=times,
        step_s=step,
        requests=tuple(requests),
        error_rate=tuple(errors_rate),
        p50_ms=tuple(p50),
        p95_ms=tuple(p95),
        p99_ms=tuple(p99),
        burn=tuple(BurnLine(slo, tuple(line)) for slo, line in zip(slos, burns, strict=True)),
        spend_by_hardware={name: tuple(values) for name, values in sorted(hardware.items())},
        spend_by_token={name: tuple(values) for name, values in tokens.items() if any(v is not None for v in values)},
    )


def _drift_scores(
    engine: Engine, model: str, version: str | None, times: tuple[int, ...], step: int
) -> dict[str, Values]:
    """Each feature's effect size in the data-drift findings whose window ends in the range."""
    start = datetime.fromtimestamp(times[0], tz=UTC)
    end = datetime.fromtimestamp(times[-1] + step, tz=UTC)
    query = select(FindingRow.window_end, FindingRow.details).where(
        FindingRow.model_name == model,
        FindingRow.detector == DRIFT_DETECTOR,
        FindingRow.window_end >= start,
        FindingRow.window_end < end,
    )
    if version is not None:
        query = query.where(FindingRow.model_version == version)
    scores: dict[str, list[float | None]] = {}
    with Session(engine) as session:
        for window_end, details in session.execute(query.order_by(FindingRow.window_end)):
            index = min(max((int(window_end.timestamp()) - times[0]) // step, 0), len(times) - 1)
            for feature in (details or {}).get("report", {}).get("features", []):
                score = feature.get("effect_size")
                if score is None:
                    score = feature.get("statistic")
                line = scores.setdefault(str(feature.get("feature")), [None] * len(times))
                line[index] = score
    return {name: tuple(values) for name, values in sorted(scores.items())}


def model_series(
    engine: Engine,
    model: str,
    version: str | None,
    *,
    pricing: Pricing,
    slos: Sequence[SLO],
    now: datetime,
    range_s: int,
    hourly: bool = True,
) -> ModelSeries:
    """The model's series over the ``range_s`` seconds before ``now``, in about ``POINTS`` steps (``hourly``:
    see ``load_view_rollups``)."""
    step = step_for(range_s)
    end = int(now.timestamp()) // step * step + step
    times = tuple(range(end - range_s // step * step, end, step))
    rollups = [
        r
        for r in load_view_rollups(engine, times[0], end, model_name=model, hourly=hourly)
        if version is None or r.key.model_version == version
    ]
    series = _per_step(rollups, times, step, pricing, [slo for slo in slos if slo.model_name == model])
    return replace(series, drift_by_feature=_drift_scores(engine, model, version, times, step))
