"""Right-sizing from end to end: demand, supply, the search and the answer, or a clear refusal.

The CLI and the gRPC service both call ``rightsize``; a missing input (no latency SLO, no prices for what
was measured, too little traffic, no shadow measurements) raises ``RightsizeInputError`` naming every
missing input and how to add it, so the caller can answer exit 2 or FAILED_PRECONDITION.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from collector.core.errors import UsageError
from collector.core.pricing import Pricing
from rightsize.answer import Answer, Autoscaling, Today, autoscale, decide, measure_next, price_today
from rightsize.demand import Demand, load_demand
from rightsize.search import Option, search
from rightsize.settings import LatencyObjective, RightsizeContext, RightsizeSettings
from rightsize.supply import Measured, load_supply

QUEUEING_MODEL = (
    "dynamic batching in front of an M/D/c pool: Poisson arrivals at the peak rate, the measured mean service "
    "time per batch, Erlang C for the chance to wait and an exponential wait tail at half the M/M/c mean; the "
    "latency quantile adds the batch-forming wait, the queueing wait quantile and the measured p99 service time "
    "(conservative; see benchmarks/rightsize_queueing.py for the model against a simulation)"
)


class RightsizeInputError(UsageError):
    """Something right-sizing needs is missing; the message names each thing and how to add it."""


@dataclass(frozen=True)
class Rightsizing:
    """Everything one right-sizing found."""

    model_name: str
    model_version: str | None
    objective: LatencyObjective
    settings: RightsizeSettings
    demand: Demand
    supply: tuple[Measured, ...]
    unpriced: tuple[str, ...]  # measured classes without a price
    options: tuple[Option, ...]
    today: Today
    answer: Answer
    autoscaling: Autoscaling | None
    measure_next: tuple[str, ...]
    generated_at: datetime
    queueing_model: str = QUEUEING_MODEL


def _slo_missing(model_name: str) -> str:
    return (
        f"no latency SLO for {model_name}: add one to inferwatch.toml, e.g.\n"
        f"      [slo.{model_name}]\n      latency_threshold_ms = 300\n      latency_target = 0.99"
    )


def _nothing_meets(supply: tuple[Measured, ...], pricing: Pricing, demand: Demand, objective: LatencyObjective) -> str:
    """Why no option exists: the fastest safe, priced batch-1 p99 against the threshold."""
    fastest = min(
        (
            (m.curve.points[0].p99_s * 1e3, m.hardware_class, m.variant)
            for m in supply
            if m.usable and m.curve is not None and m.hardware_class in pricing.hardware
        ),
        default=None,
    )
    text = (
        f"no measured configuration meets p{objective.quantile * 100:g} < {objective.threshold_ms:g} ms at the "
        f"peak of {demand.peak_rate:.2f}/s"
    )
    if fastest is not None:
        p99_ms, hardware, variant = fastest
        text += f": the fastest measured is {variant} on {hardware}, {p99_ms:.1f} ms p99 at batch 1 alone"
    return text + "; measure faster hardware or variants, or revisit the SLO"


def rightsize(
    engine: Engine,
    model_name: str,
    *,
    model_version: str | None,
    since: datetime,
    objective: LatencyObjective | None,
    pricing: Pricing,
    settings: RightsizeSettings,
    replicas: int | None = None,
    hardware_class: str | None = None,
    provider_hardware: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Rightsizing:
    """Right-size ``model_name`` (one version, or all) on its traffic since ``since``; see the module docstring."""
    if not model_name:
        raise ValueError("the model name must not be empty")
    if replicas is not None and replicas < 1:
        raise ValueError(f"`replicas` must be >= 1, got {replicas}")
    now = now or datetime.now(tz=UTC)
    if since >= now:
        raise ValueError(f"`since` must be before now, got {since.isoformat()}")
    problems = [] if objective is not None else [_slo_missing(model_name)]
    demand = load_demand(
        engine,
        model_name,
        model_version,
        since_unix_s=int(since.timestamp()),
        now_unix_s=int(now.timestamp()),
        peak_quantile=settings.peak_quantile,
    )
    what = f"{model_name}" + (f" version {model_version}" if model_version else "")
    if demand.requests < settings.min_requests or demand.active_minutes < settings.min_active_minutes:
        problems.append(
            f"too little traffic for {what} since {since:%Y-%m-%d %H:%M} UTC: {demand.requests} requests in "
            f"{demand.active_minutes} minutes with traffic; right-sizing needs at least {settings.min_requests} "
            f"requests and {settings.min_active_minutes} such minutes in the 60-second rollups (widen --since, or "
            "check that the service sends inference spans naming the model and that `inferwatch serve` runs)"
        )
    supply = load_supply(engine, model_name, model_version)
    measured = [m for m in supply if m.curve is not None]
    if not measured:
        problems.append(
            f"no shadow measurements of {what} with batch curves: run `inferwatch shadow run --model {model_name}"
            + (f" --version {model_version}" if model_version else "")
            + "` on each hardware class to compare (--provider-hardware names a GPU's class)"
        )
    unpriced = tuple(sorted({m.hardware_class for m in measured if m.hardware_class not in pricing.hardware}))
    if measured and len(unpriced) == len({m.hardware_class for m in measured}):
        lines = "\n".join(f"      {hardware} = <$ per hour>" for hardware in unpriced)
        problems.append(
            f"no price for the measured hardware class(es) {', '.join(unpriced)}: add them to inferwatch.toml:\n"
            f"      [pricing.hardware]\n{lines}"
        )
    if problems:
        raise RightsizeInputError(f"cannot right-size {what}:\n" + "\n".join(f"  - {problem}" for problem in problems))
    assert objective is not None
    options = tuple(search(supply, pricing, demand, objective, settings))
    today = price_today(demand, supply, pricing, objective, settings, replicas=replicas, hardware_class=hardware_class)
    answer = decide(options, today, settings)
    if answer.decision == "none":
        answer = replace(answer, text=_nothing_meets(supply, pricing, demand, objective))
    scaling = None
    chosen = answer.option if answer.decision == "switch" else (today.modelled or answer.option)
    if chosen is not None:
        curve = next(
            m.curve for m in supply if (m.hardware_class, m.variant) == (chosen.hardware_class, chosen.variant)
        )
        assert curve is not None
        scaling = autoscale(chosen, curve, demand, objective, settings)
    on_demand = [o for o in options if not o.spot]
    return Rightsizing(
        model_name=model_name,
        model_version=model_version,
        objective=objective,
        settings=settings,
        demand=demand,
        supply=supply,
        unpriced=unpriced,
        options=tuple(on_demand[: settings.options]) + tuple(o for o in options if o.spot),
        today=today,
        answer=answer,
        autoscaling=scaling,
        measure_next=measure_next(
            model_name,
            supply,
            pricing,
            on_demand[0].usd_per_month if on_demand else None,
            provider_hardware or {},
        ),
        generated_at=now,
    )


def rightsize_with(
    engine: Engine,
    context: RightsizeContext,
    model_name: str,
    *,
    model_version: str | None,
    since: datetime,
    settings: RightsizeSettings | None = None,
    replicas: int | None = None,
    hardware_class: str | None = None,
    now: datetime | None = None,
) -> Rightsizing:
    """``rightsize`` with what the configuration gives (SLO, prices, settings, today's replicas), as the CLI,
    the gRPC service and the model page all call it; ``settings`` overrides the configured ones."""
    settings = settings or context.settings
    return rightsize(
        engine,
        model_name,
        model_version=model_version,
        since=since,
        objective=context.objectives.get(model_name),
        pricing=context.pricing,
        settings=settings,
        replicas=replicas or settings.replicas.get(model_name),
        hardware_class=hardware_class,
        provider_hardware=context.provider_hardware,
        now=now,
    )
