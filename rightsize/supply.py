"""Supply: what each hardware class measured for a model, from the batch curves of its stored shadow runs.

A measurement is one model (the baseline, or a variant) on one execution provider in one succeeded shadow
run. The newest run's measurement of each (hardware class, variant) is used. A variant is *safe* when the
run judged its quality as holding (overall and on every slice); the baseline is safe by definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.core.storage.shadow_tables import ShadowRunRow, ShadowVariantResultRow
from rightsize.queueing import ServiceCurve, ServicePoint

BASELINE = "baseline"


@dataclass(frozen=True)
class Measured:
    """One model's batch curve on one hardware class, and whether it may serve."""

    hardware_class: str
    variant: str
    execution_provider: str
    run_id: str
    model_version: str
    finished_at: datetime | None
    curve: ServiceCurve | None
    unsafe_reason: str | None = None  # why the variant may not serve; None when it may
    note: str | None = None  # why it cannot be used even so (no batch curve)

    @property
    def usable(self) -> bool:
        """Safe, with a curve to model."""
        return self.unsafe_reason is None and self.curve is not None


def curve_from_stored(points: list[dict[str, Any]]) -> ServiceCurve | None:
    """A stored ``batch_curve`` (shadow.result.CurvePoint dictionaries) as a service curve; None when empty."""
    measured = []
    for point in sorted(points, key=lambda p: int(p["batch"])):
        rows_per_s, p99_ms = point.get("rows_per_s") or 0.0, point.get("p99_ms") or 0.0
        if rows_per_s > 0 and p99_ms > 0:
            batch = int(point["batch"])
            measured.append(ServicePoint(batch, batch / rows_per_s, p99_ms / 1e3, int(point.get("calls") or 0)))
    return ServiceCurve(tuple(measured)) if measured else None


def _unsafe_reason(name: str, metrics: dict[str, Any]) -> str | None:
    if name == BASELINE:
        return None
    verdict = metrics.get("verdict") or {}
    if verdict.get("keep_reason") == "slice":
        return "quality fails on a slice"
    quality = verdict.get("quality")
    if quality != "pass":
        return f"quality not shown to hold ({quality or 'not judged'})"
    return None


def load_supply(engine: Engine, model_name: str, model_version: str | None) -> tuple[Measured, ...]:
    """The newest measurement of each (hardware class, variant) of the model's succeeded shadow runs."""
    query = (
        select(
            ShadowRunRow.id,
            ShadowRunRow.model_version,
            ShadowRunRow.finished_at,
            ShadowVariantResultRow.name,
            ShadowVariantResultRow.execution_provider,
            ShadowVariantResultRow.hardware_class,
            ShadowVariantResultRow.metrics,
        )
        .join(ShadowVariantResultRow, ShadowVariantResultRow.run_id == ShadowRunRow.id)
        .where(
            ShadowRunRow.model_name == model_name,
            ShadowRunRow.state == "succeeded",
            ShadowVariantResultRow.error.is_(None),
        )
        .order_by(ShadowRunRow.finished_at.desc(), ShadowRunRow.id)
    )
    if model_version is not None:
        query = query.where(ShadowRunRow.model_version == model_version)
    newest: dict[tuple[str, str], Measured] = {}
    with engine.connect() as connection:
        for run_id, version, finished_at, name, provider, hardware, metrics in connection.execute(query):
            key = (hardware, name)
            if key in newest or not hardware:
                continue
            measurement = (metrics or {}).get("measurement") or {}
            curve = curve_from_stored(list(measurement.get("batch_curve") or ()))
            newest[key] = Measured(
                hardware_class=hardware,
                variant=name,
                execution_provider=provider,
                run_id=run_id,
                model_version=version,
                finished_at=finished_at,
                curve=curve,
                unsafe_reason=_unsafe_reason(name, metrics or {}),
                note=None if curve else "no batch curve stored: rerun the shadow run with this inferwatch",
            )
    return tuple(sorted(newest.values(), key=lambda m: (m.hardware_class, m.variant != BASELINE, m.variant)))
