"""The answer: today's setup priced, the switch decision with its margin and bound, autoscaling, what to measure.

Keep today's setup unless the cheapest on-demand option's *bound* costs less than today's cost by more than
the margin: an option that is only cheaper under the mean service time is not worth a migration. Spot
options are shown beside it, never chosen, since their price buys an interruption risk the search cannot
price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from collector.core.pricing import Pricing
from rightsize.demand import Demand, weekly_label
from rightsize.queueing import Batching, ServiceCurve, fewest_replicas
from rightsize.search import Option, size
from rightsize.settings import HOURS_PER_MONTH, LatencyObjective, RightsizeSettings
from rightsize.supply import BASELINE, Measured

Decision = Literal["switch", "keep", "unknown", "none"]


@dataclass(frozen=True)
class Today:
    """How the model is served now: the class most of its spans name, the baseline, no batching."""

    hardware_class: str | None
    replicas: int | None
    replicas_source: str  # "given", "assumed", or "unknown"
    usd_per_hour: float | None
    modelled: Option | None  # today's configuration through the same model, when its class was measured
    needed_replicas: int | None  # what the model says today's configuration needs at the peak

    @property
    def usd_per_month(self) -> float | None:
        """Today's cost per month; None when the count or the price is unknown."""
        if self.replicas is None or self.usd_per_hour is None:
            return None
        return self.replicas * self.usd_per_hour * HOURS_PER_MONTH


@dataclass(frozen=True)
class HourPlan:
    """Replicas for one hour of the shape."""

    label: str
    peak_rate: float
    replicas: int


@dataclass(frozen=True)
class Autoscaling:
    """The same configuration scaled per hour of the weekly (or, under a week of data, daily) shape."""

    option: Option
    shape: Literal["weekly", "daily"]
    hours: tuple[HourPlan, ...]

    @property
    def mean_replicas(self) -> float:
        """Replicas averaged over the shape's hours."""
        return sum(h.replicas for h in self.hours) / len(self.hours)

    @property
    def usd_per_month(self) -> float:
        """Scaled with traffic."""
        return self.mean_replicas * self.option.usd_per_hour * HOURS_PER_MONTH

    @property
    def saving_usd_per_month(self) -> float:
        """Against the fixed count of the option."""
        return self.option.usd_per_month - self.usd_per_month


@dataclass(frozen=True)
class Answer:
    """What to do and what it saves."""

    decision: Decision
    option: Option | None
    saving_usd_per_month: float | None
    saving_bound_usd_per_month: float | None
    text: str


def price_today(
    demand: Demand,
    supply: Sequence[Measured],
    pricing: Pricing,
    objective: LatencyObjective,
    settings: RightsizeSettings,
    *,
    replicas: int | None,
    hardware_class: str | None,
) -> Today:
    """Today's setup: the given count, else the fewest the model needs on today's class (an assumption)."""
    hardware = hardware_class or demand.current_hardware
    price = pricing.hardware.get(hardware) if hardware else None
    baseline = next((m for m in supply if m.hardware_class == hardware and m.variant == BASELINE and m.usable), None)
    needed = None
    modelled = None
    if baseline is not None and price is not None:
        fewest = size(baseline, _no_batching(), price, demand=demand, objective=objective, settings=settings)
        needed = fewest.replicas if fewest else None
        count = replicas or needed
        if count:
            modelled = size(
                baseline, _no_batching(), price, demand=demand, objective=objective, settings=settings, replicas=count
            )
    if replicas is not None:
        return Today(hardware, replicas, "given", price, modelled, needed)
    if needed is not None:
        return Today(hardware, needed, "assumed", price, modelled, needed)
    return Today(hardware, None, "unknown", price, None, None)


def _no_batching() -> Batching:
    return Batching(1, 0.0)


def autoscale(
    option: Option, curve: ServiceCurve, demand: Demand, objective: LatencyObjective, settings: RightsizeSettings
) -> Autoscaling:
    """Per hour of the shape, the fewest replicas at that hour's peak rate (the fixed count where none does)."""
    weekly = bool(demand.weekly)
    shape = demand.weekly if weekly else demand.daily
    hours = []
    for hour in shape:
        count = fewest_replicas(
            hour.peak_rate,
            option.batching,
            curve,
            threshold_s=objective.threshold_ms / 1e3,
            quantile=objective.quantile,
            headroom=settings.headroom,
            at_least=settings.min_replicas,
        )
        label = weekly_label(hour.slot) if weekly else f"{hour.slot:02d}:00"
        hours.append(HourPlan(label, hour.peak_rate, min(count or option.replicas, option.replicas)))
    return Autoscaling(option, "weekly" if weekly else "daily", tuple(hours))


def decide(options: Sequence[Option], today: Today, settings: RightsizeSettings) -> Answer:
    """Keep unless the best on-demand option's bound beats today's cost by more than the margin."""
    on_demand = [o for o in options if not o.spot]
    if not on_demand:
        return Answer("none", None, None, None, "no measured configuration meets the SLO at the peak")
    best = on_demand[0]
    now = today.usd_per_month
    if now is None:
        why = (
            "the replica count (--replicas)"
            if today.usd_per_hour is not None
            else f"a price for {today.hardware_class}"
        )
        return Answer(
            "unknown",
            best,
            None,
            None,
            f"cheapest: {best.name} at ${best.usd_per_month:,.0f}/month; today's cost is unknown without {why}",
        )
    saving, saving_bound = now - best.usd_per_month, now - best.usd_per_month_bound
    if math.isfinite(saving_bound) and saving_bound > settings.margin * now:
        return Answer(
            "switch",
            best,
            saving,
            saving_bound,
            f"switch to {best.name}: ${best.usd_per_month:,.0f}/month instead of ${now:,.0f}, saving "
            f"${saving:,.0f}/month (${saving_bound:,.0f} at its bound, more than the {settings.margin:.0%} margin)",
        )
    reason = (
        "nothing is cheaper"
        if saving <= 0
        else f"the best option saves ${saving:,.0f}/month but its bound saves "
        + (f"${saving_bound:,.0f}" if math.isfinite(saving_bound) else "nothing")
        + f", not more than the {settings.margin:.0%} margin"
    )
    return Answer("keep", best, saving, saving_bound, f"keep today's setup (${now:,.0f}/month): {reason}")


def measure_next(
    model_name: str,
    supply: Sequence[Measured],
    pricing: Pricing,
    cheapest_usd_per_month: float | None,
    provider_hardware: Mapping[str, str],
) -> tuple[str, ...]:
    """Priced classes without a measurement that could still win (one replica costs less than the best option)."""
    measured = {m.hardware_class for m in supply if m.curve is not None}
    providers = {hardware: provider for provider, hardware in provider_hardware.items()}
    advice = []
    for hardware, price in sorted(pricing.hardware.items(), key=lambda item: item[1]):
        if hardware in measured:
            continue
        one = price * HOURS_PER_MONTH
        if cheapest_usd_per_month is not None and one >= cheapest_usd_per_month:
            continue
        if hardware == "cpu":
            how = f"`inferwatch shadow run --model {model_name}` on a CPU machine"
        else:
            provider = providers.get(hardware, "CUDAExecutionProvider")
            how = (
                f"`inferwatch shadow run --model {model_name} --provider-hardware {provider}={hardware}` on a "
                "machine with that device"
            )
        advice.append(f"run a shadow run on {hardware} to price it (${one:,.0f}/month a replica): {how}")
    return tuple(advice)
