"""A right-sizing as one JSON document (``--json``, and the source of the gRPC answer) and as text."""

from __future__ import annotations

import math
from typing import Any

from rightsize.advisor import Rightsizing
from rightsize.answer import Autoscaling, Today
from rightsize.demand import Demand
from rightsize.search import Option


def _number(value: float | None, digits: int = 3) -> float | None:
    """Rounded, with infinity and NaN as null (strict JSON)."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def option_json(option: Option, result: Rightsizing) -> dict[str, Any]:
    """One option with its assumption and bound."""
    return {
        "name": option.name,
        "hardware_class": option.hardware_class,
        "variant": option.variant,
        "execution_provider": option.execution_provider,
        "shadow_run_id": option.run_id,
        "max_batch": option.max_batch,
        "batching_delay_ms": option.delay_ms,
        "replicas": option.replicas,
        "replicas_bound": option.replicas_bound,
        "usd_per_hour": option.usd_per_hour,
        "usd_per_month": _number(option.usd_per_month, 2),
        "usd_per_month_bound": _number(option.usd_per_month_bound, 2),
        "mean_batch_at_peak": _number(option.mean_batch_at_peak),
        "utilisation_at_peak": _number(option.utilisation_at_peak),
        "latency_at_peak_ms": _number(option.latency_at_peak_ms),
        "latency_at_max_ms": _number(option.latency_at_max_ms),
        "spot": option.spot,
        "interruption_risk": option.interruption_risk,
        "assumption": option.assumption(result.demand, result.objective),
        "bound": option.bound(),
    }


def _demand_json(demand: Demand, today: Today) -> dict[str, Any]:
    return {
        "start": demand.start_unix_s,
        "end": demand.end_unix_s,
        "minutes": demand.minutes,
        "requests": demand.requests,
        "active_minutes": demand.active_minutes,
        "peak_quantile": demand.peak_quantile,
        "peak_rps": _number(demand.peak_rate),
        "max_rps": _number(demand.max_rate),
        "mean_rps": _number(demand.mean_rate),
        "busy_replicas": _number(demand.busy_replicas),
        "busy_share": _number(demand.busy_replicas / today.replicas) if today.replicas else None,
        "hardware_classes": dict(demand.hardware_classes),
        "daily": [
            {"hour": h.slot, "mean_rps": _number(h.mean_rate), "peak_rps": _number(h.peak_rate)} for h in demand.daily
        ],
        "weekly": [
            {"hour_of_week": h.slot, "mean_rps": _number(h.mean_rate), "peak_rps": _number(h.peak_rate)}
            for h in demand.weekly
        ],
    }


def _autoscaling_json(scaling: Autoscaling | None) -> dict[str, Any] | None:
    if scaling is None:
        return None
    return {
        "option": scaling.option.name,
        "shape": scaling.shape,
        "fixed_replicas": scaling.option.replicas,
        "mean_replicas": _number(scaling.mean_replicas),
        "usd_per_month_fixed": _number(scaling.option.usd_per_month, 2),
        "usd_per_month_autoscaled": _number(scaling.usd_per_month, 2),
        "saving_usd_per_month": _number(scaling.saving_usd_per_month, 2),
        "hours": [{"hour": h.label, "peak_rps": _number(h.peak_rate), "replicas": h.replicas} for h in scaling.hours],
    }


def to_json(result: Rightsizing) -> dict[str, Any]:
    """The whole right-sizing as a JSON-ready dictionary."""
    today, answer = result.today, result.answer
    settings = result.settings
    return {
        "model": result.model_name,
        "version": result.model_version,
        "generated_at": result.generated_at.isoformat(),
        "slo": {"latency_threshold_ms": result.objective.threshold_ms, "quantile": result.objective.quantile},
        "headroom": settings.headroom,
        "margin": settings.margin,
        "queueing_model": result.queueing_model,
        "demand": _demand_json(result.demand, today),
        "supply": [
            {
                "hardware_class": m.hardware_class,
                "variant": m.variant,
                "execution_provider": m.execution_provider,
                "shadow_run_id": m.run_id,
                "model_version": m.model_version,
                "safe": m.unsafe_reason is None,
                "unsafe_reason": m.unsafe_reason,
                "note": m.note,
                "priced": m.hardware_class not in result.unpriced,
                "batch_curve": [
                    {
                        "batch": p.batch,
                        "calls": p.calls,
                        "mean_ms": _number(p.mean_s * 1e3),
                        "p99_ms": _number(p.p99_s * 1e3),
                        "rows_per_s": _number(p.batch / p.mean_s),
                        # The throughput's bound: every call as slow as the measured p99.
                        "rows_per_s_bound": _number(p.batch / p.p99_s),
                    }
                    for p in (m.curve.points if m.curve else ())
                ],
            }
            for m in result.supply
        ],
        "unpriced_hardware_classes": list(result.unpriced),
        "options": [option_json(option, result) for option in result.options],
        "today": {
            "hardware_class": today.hardware_class,
            "replicas": today.replicas,
            "replicas_source": today.replicas_source,
            "needed_replicas": today.needed_replicas,
            "usd_per_hour": today.usd_per_hour,
            "usd_per_month": _number(today.usd_per_month, 2),
            "latency_at_peak_ms": _number(today.modelled.latency_at_peak_ms) if today.modelled else None,
        },
        "answer": {
            "decision": answer.decision,
            "option": answer.option.name if answer.option else None,
            "saving_usd_per_month": _number(answer.saving_usd_per_month, 2),
            "saving_bound_usd_per_month": _number(answer.saving_bound_usd_per_month, 2),
            "text": answer.text,
        },
        "autoscaling": _autoscaling_json(result.autoscaling),
        "measure_next": list(result.measure_next),
    }


def to_text(result: Rightsizing) -> str:
    """What a person reads: the answer first, then the numbers behind it."""
    demand, today, objective = result.demand, result.today, result.objective
    what = result.model_name + (f" {result.model_version}" if result.model_version else "")
    q = f"p{objective.quantile * 100:g}"
    lines = [
        f"right-sizing {what}: {result.answer.text}",
        "",
        f"demand over {demand.minutes / 1440:.1f} days: {demand.requests:,} requests, peak "
        f"(p{demand.peak_quantile * 100:g} of minutes) {demand.peak_rate:.2f}/s, max {demand.max_rate:.2f}/s, "
        f"mean {demand.mean_rate:.2f}/s, {demand.busy_replicas:.2f} replicas busy on average"
        + (f" ({demand.busy_replicas / today.replicas:.0%} of {today.replicas})" if today.replicas else ""),
        "  by hour (UTC, peak/s): " + " ".join(f"{h.slot:02d}:{h.peak_rate:.1f}" for h in demand.daily),
        f"SLO: {q} under {objective.threshold_ms:g} ms; headroom {result.settings.headroom:.0%}",
        f"today: {today.replicas or '?'} x {today.hardware_class or '?'} ({today.replicas_source}"
        + (f"; the model needs {today.needed_replicas}" if today.needed_replicas is not None else "")
        + ")"
        + (f", ${today.usd_per_month:,.0f}/month" if today.usd_per_month is not None else ""),
        "",
        "cheapest options:",
    ]
    for option in result.options:
        lines.append(
            f"  {option.name:<60} ${option.usd_per_month:>10,.0f}/month  {q} {option.latency_at_peak_ms:.1f} ms"
        )
        lines.append(f"      assumes: {option.assumption(demand, objective)}")
        lines.append(f"      bound: {option.bound()}")
        if option.interruption_risk:
            lines.append(f"      risk: {option.interruption_risk}")
    if not result.options:
        lines.append("  none meets the SLO at the peak")
    if result.autoscaling is not None:
        scaling = result.autoscaling
        lines += [
            "",
            f"autoscaling {scaling.option.name} per hour of the {scaling.shape} shape: {scaling.mean_replicas:.2f} "
            f"replicas on average, ${scaling.usd_per_month:,.0f}/month against ${scaling.option.usd_per_month:,.0f} "
            f"fixed (saves ${scaling.saving_usd_per_month:,.0f}); replicas must be up before each hour's traffic",
        ]
    unusable = [m for m in result.supply if not m.usable]
    if unusable or result.unpriced:
        lines += ["", "not considered:"]
        lines += [f"  {m.hardware_class} {m.variant}: {m.unsafe_reason or m.note}" for m in unusable]
        lines += [f"  {hardware}: no price in [pricing.hardware]" for hardware in result.unpriced]
    if result.measure_next:
        lines += ["", "measure next:", *(f"  {advice}" for advice in result.measure_next)]
    lines += ["", f"model: {result.queueing_model}"]
    return "\n".join(lines)
