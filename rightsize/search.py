"""The search: every (hardware class, safe variant, max batch, batching delay), its fewest replicas, its cost.

For each configuration the fewest replicas that serve the peak rate with headroom while the modelled latency
quantile stays under the SLO (``rightsize.queueing``), priced per month; its *bound* is the same count with
every batch taking its measured p99 service time instead of its mean. The best configuration of each
(class, variant) is an option; options are ranked by cost, then by their bound's cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from collector.core.pricing import Pricing
from rightsize.demand import Demand
from rightsize.queueing import (
    Batching,
    ServiceCurve,
    fewest_replicas,
    latency_quantile,
    operating_point,
    utilisation,
)
from rightsize.settings import HOURS_PER_MONTH, LatencyObjective, RightsizeSettings
from rightsize.supply import Measured

SPOT_RISK = (
    "spot capacity can be reclaimed at short notice (AWS gives 2 minutes, GCP 30 seconds) and may be "
    "unavailable for hours; {detail}"
)


@dataclass(frozen=True)
class Option:
    """One way to serve the model, priced, with what it assumes and its bound."""

    hardware_class: str
    variant: str
    execution_provider: str
    run_id: str
    max_batch: int
    delay_ms: float
    replicas: int
    replicas_bound: int | None  # None: at p99 service times no count meets the SLO
    usd_per_hour: float
    mean_batch_at_peak: float
    utilisation_at_peak: float
    latency_at_peak_ms: float
    latency_at_max_ms: float  # at the busiest minute's rate, with the same replicas
    spot: bool = False
    interruption_risk: str | None = None

    @property
    def usd_per_month(self) -> float:
        """What the replicas cost in a month (730 hours)."""
        return self.replicas * self.usd_per_hour * HOURS_PER_MONTH

    @property
    def usd_per_month_bound(self) -> float:
        """The bound's cost; infinite when the bound has no replica count."""
        if self.replicas_bound is None:
            return math.inf
        return self.replicas_bound * self.usd_per_hour * HOURS_PER_MONTH

    @property
    def batching(self) -> Batching:
        """The batcher this option runs with."""
        return Batching(self.max_batch, self.delay_ms / 1e3)

    @property
    def name(self) -> str:
        """``"3 x nvidia-l4, fp16@CUDAExecutionProvider, batch <= 8 within 5 ms"``."""
        batching = "no batching" if self.max_batch == 1 else f"batch <= {self.max_batch} within {self.delay_ms:g} ms"
        spot = " (spot)" if self.spot else ""
        return f"{self.replicas} x {self.hardware_class}{spot}, {self.variant}, {batching}"

    def assumption(self, demand: Demand, objective: LatencyObjective) -> str:
        """What the count rests on, in one sentence."""
        return (
            f"Poisson arrivals at the p{demand.peak_quantile * 100:g} minute rate {demand.peak_rate:.2f}/s, "
            f"batches of {self.mean_batch_at_peak:.1f} on average, M/D/c queueing with the mean service time "
            f"measured in shadow run {self.run_id[:8]}: modelled p{objective.quantile * 100:g} "
            f"{self.latency_at_peak_ms:.1f} ms against {objective.threshold_ms:g} ms, each replica "
            f"{self.utilisation_at_peak:.0%} busy"
        )

    def bound(self) -> str:
        """The bound, in one sentence."""
        if self.replicas_bound is None:
            return "if every batch took its measured p99 service time, no replica count would meet the SLO"
        return (
            f"if every batch took its measured p99 service time: {self.replicas_bound} replicas, "
            f"${self.usd_per_month_bound:,.0f}/month; at the busiest minute the modelled latency is "
            f"{self.latency_at_max_ms:.1f} ms"
        )


def _latency_ms(rate: float, replicas: int, batching: Batching, curve: ServiceCurve, quantile: float) -> float:
    return latency_quantile(rate, replicas, batching, curve, quantile) * 1e3


def size(
    measured: Measured,
    batching: Batching,
    price: float,
    *,
    demand: Demand,
    objective: LatencyObjective,
    settings: RightsizeSettings,
    replicas: int | None = None,
) -> Option | None:
    """One configuration at the peak: its fewest replicas (or ``replicas`` as given), or None when none does."""
    curve = measured.curve
    assert curve is not None
    threshold_s, quantile, headroom = objective.threshold_ms / 1e3, objective.quantile, settings.headroom
    count = replicas
    if count is None:
        count = fewest_replicas(
            demand.peak_rate, batching, curve, threshold_s=threshold_s, quantile=quantile, headroom=headroom
        )
        if count is None:
            return None
    bound = fewest_replicas(
        demand.peak_rate,
        batching,
        curve,
        threshold_s=threshold_s,
        quantile=quantile,
        headroom=headroom,
        pessimistic=True,
    )
    return Option(
        hardware_class=measured.hardware_class,
        variant=measured.variant,
        execution_provider=measured.execution_provider,
        run_id=measured.run_id,
        max_batch=batching.max_batch,
        delay_ms=batching.delay_s * 1e3,
        replicas=count,
        replicas_bound=bound,
        usd_per_hour=price,
        mean_batch_at_peak=operating_point(demand.peak_rate, batching, curve).batch,
        utilisation_at_peak=utilisation(demand.peak_rate, count, batching, curve),
        latency_at_peak_ms=_latency_ms(demand.peak_rate, count, batching, curve, objective.quantile),
        latency_at_max_ms=_latency_ms(demand.max_rate, count, batching, curve, objective.quantile),
    )


def _rank(option: Option) -> tuple[float, float, float, int, float]:
    return (
        option.usd_per_month,
        option.usd_per_month_bound,
        option.latency_at_peak_ms,
        option.max_batch,
        option.delay_ms,
    )


def search(
    supply: Sequence[Measured],
    pricing: Pricing,
    demand: Demand,
    objective: LatencyObjective,
    settings: RightsizeSettings,
) -> list[Option]:
    """The best on-demand option of each priced (class, safe variant), cheapest first, then spot ones."""
    best: list[Option] = []
    for measured in supply:
        price = pricing.hardware.get(measured.hardware_class)
        if not measured.usable or price is None or measured.curve is None:
            continue
        candidates = []
        for max_batch in measured.curve.sizes:
            for delay_ms in settings.batching_delays_ms if max_batch > 1 else (0.0,):
                option = size(
                    measured,
                    Batching(max_batch, delay_ms / 1e3),
                    price,
                    demand=demand,
                    objective=objective,
                    settings=settings,
                )
                if option is not None:
                    candidates.append(option)
        if candidates:
            best.append(min(candidates, key=_rank))
    best.sort(key=_rank)
    return best + spot_options(best, pricing, demand, objective, supply)


def spot_options(
    options: Sequence[Option],
    pricing: Pricing,
    demand: Demand,
    objective: LatencyObjective,
    supply: Sequence[Measured],
) -> list[Option]:
    """The cheapest option of each class with a spot price, at that price, marked with what an interruption does."""
    curves = {(m.hardware_class, m.variant): m.curve for m in supply}
    spot: list[Option] = []
    seen: set[str] = set()
    for option in options:
        price = pricing.spot.get(option.hardware_class)
        if price is None or option.hardware_class in seen:
            continue
        seen.add(option.hardware_class)
        curve = curves[(option.hardware_class, option.variant)]
        assert curve is not None
        if option.replicas > 1:
            left = _latency_ms(demand.peak_rate, option.replicas - 1, option.batching, curve, objective.quantile)
            lost = f"with one of the {option.replicas} replicas reclaimed at the peak"
            if not math.isfinite(left):
                detail = f"{lost} the other {option.replicas - 1} cannot keep up"
            else:
                verdict = "meets" if left <= objective.threshold_ms else "misses"
                detail = f"{lost} the modelled p{objective.quantile * 100:g} is {left:.1f} ms ({verdict} the SLO)"
        else:
            detail = "with its only replica reclaimed the model is down until a new one starts"
        spot.append(
            Option(
                **{
                    **option.__dict__,
                    "usd_per_hour": price,
                    "spot": True,
                    "interruption_risk": SPOT_RISK.format(detail=detail),
                }
            )
        )
    return sorted(spot, key=_rank)
