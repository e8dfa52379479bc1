"""Per model version numbers for the models list, from rollups (traffic, latency, errors, spend) and the latest
drift findings, firing alerts and shadow runs."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.pricing import Pricing
from collector.core.storage.alert_tables import AlertRow
from collector.core.storage.shadow_tables import ShadowRunRow
from collector.core.storage.tables import FindingRow, ModelRow, ModelVersionRow, SpanRollupRow
from collector.service.web.params import PAGING, Query
from detectors.cost import cost_report
from detectors.hourly_rollups import load_rollups_coarse
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, load_rollups

MODEL_PARAMS: Final = ("model", "version", "range", "sort", "order", *PAGING)
# Columns the list sorts by; text columns sort A to Z, numbers largest first unless `order` says otherwise.
SORT_KEYS: Final = (
    "model",
    "requests",
    "p50_ms",
    "p99_ms",
    "error_rate",
    "usd_per_hour",
    "usd_per_1k",
    "drift",
    "firing_alerts",
)
DRIFT_DETECTOR_PREFIX: Final = "drift."


@dataclass(frozen=True)
class ModelSummary:
    """One model version over a range: what the models list shows."""

    model_name: str
    model_version: str
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    usd_per_hour: float | None
    usd_per_1k: float | None
    # "drift" when the newest finding of any drift detector fires, "ok" when none does, "unknown" without any.
    drift: str
    drift_finding_id: int | None
    firing_alerts: int
    shadow_run_id: str | None
    shadow_state: str | None
    shadow_decision: str | None
    shadow_headline: str | None

    @property
    def error_rate(self) -> float | None:
        """Errors per request; None without traffic."""
        return self.errors / self.requests if self.requests else None


def merged_latency(rollups: Iterable[Rollup]) -> LatencySketch | None:
    """One sketch of every rollup's latencies, or None without any."""
    return LatencySketch.combined(rollup.latency for rollup in rollups)


def _quantile(sketch: LatencySketch | None, q: float) -> float | None:
    if sketch is None:
        return None
    value = sketch.quantile(q)
    return value if math.isfinite(value) else None


def _registered(session: Session) -> set[tuple[str, str]]:
    query = select(ModelRow.name, ModelVersionRow.version).join(
        ModelVersionRow, ModelVersionRow.model_id == ModelRow.id
    )
    return {(name, version) for name, version in session.execute(query)}


def versions_of(engine: Engine, model: str) -> list[str]:
    """Every version of a model that has rollups or is registered, for the version selector."""
    with Session(engine) as session:
        rolled = select(SpanRollupRow.model_version).where(SpanRollupRow.model_name == model).distinct()
        registered = (
            select(ModelVersionRow.version)
            .join(ModelRow, ModelVersionRow.model_id == ModelRow.id)
            .where(ModelRow.name == model)
        )
        return sorted(set(session.scalars(rolled)) | set(session.scalars(registered)))


def _drift_states(session: Session) -> dict[tuple[str, str], tuple[str, int]]:
    """The newest judged finding of each drift detector per version (a window with too little data judges
    nothing and is passed over), folded into one state and the finding to open."""
    query = (
        select(
            FindingRow.model_name,
            FindingRow.model_version,
            FindingRow.detector,
            FindingRow.firing,
            FindingRow.id,
            FindingRow.details,
        )
        .where(FindingRow.detector.startswith(DRIFT_DETECTOR_PREFIX))
        .order_by(FindingRow.window_end.desc(), FindingRow.id.desc())
    )
    seen: set[tuple[str, str, str]] = set()
    states: dict[tuple[str, str], tuple[str, int]] = {}
    for model, version, detector, firing, finding_id, details in session.execute(query):
        if (model, version, detector) in seen or (details or {}).get("enough_data") is False:
            continue
        seen.add((model, version, detector))
        key = (model, version)
        if firing and states.get(key, ("", 0))[0] != "drift":
            states[key] = ("drift", finding_id)
        else:
            states.setdefault(key, ("ok", finding_id))
    return states


def _firing_alerts(session: Session) -> list[dict[str, str]]:
    return [dict(labels) for labels in session.scalars(select(AlertRow.labels).where(AlertRow.state == "firing"))]


def _latest_runs(session: Session) -> dict[tuple[str, str], ShadowRunRow]:
    latest: dict[tuple[str, str], ShadowRunRow] = {}
    for row in session.scalars(select(ShadowRunRow).order_by(ShadowRunRow.created_at.desc())):
        latest.setdefault((row.model_name, row.model_version), row)
    return latest


# The rollups the pages read: one minute each, or hourly inside ranges of ``COARSE_FROM_S`` or more.
ROLLUP_S = 60
# From a week up: below, an hour's rounding of when traffic started would show in the cost per hour.
COARSE_FROM_S = 7 * 86400


def load_view_rollups(
    engine: Engine, start_s: int, end_s: int, *, model_name: str | None = None, hourly: bool = True
) -> list[Rollup]:
    """The rollups a page shows over ``[start_s, end_s)``: hourly ones for the whole hours of a range of
    ``COARSE_FROM_S`` or more (a month of minutes is 43,200 rows per key), one-minute ones otherwise (or
    when not ``hourly``)."""
    if hourly and end_s - start_s >= COARSE_FROM_S:
        return load_rollups_coarse(engine, start_s, end_s, ROLLUP_S, model_name=model_name)
    return load_rollups(engine, start_s, end_s, ROLLUP_S, model_name=model_name)


def model_summaries(
    engine: Engine, pricing: Pricing, now: datetime, range_s: int, *, hourly: bool = True
) -> list[ModelSummary]:
    """Every model version with traffic in the last ``range_s`` seconds, registered, or with drift findings or
    shadow runs, by name and version (``hourly``: see ``load_view_rollups``)."""
    end_s = int(now.timestamp())
    rollups = load_view_rollups(engine, end_s - range_s, end_s + 60, hourly=hourly)
    by_version: dict[tuple[str, str], list[Rollup]] = defaultdict(list)
    for rollup in rollups:
        by_version[(rollup.key.model_name, rollup.key.model_version)].append(rollup)
    costs = {(line.model_name, line.model_version): line for line in cost_report(rollups, pricing)}
    with Session(engine) as session:
        drift = _drift_states(session)
        alerts = _firing_alerts(session)
        runs = _latest_runs(session)
        # A version watched only through its predictions (drift) or shadow runs has no rollups; it is listed too.
        versions = set(by_version) | _registered(session) | set(drift) | set(runs)
    summaries = []
    for model, version in sorted(versions):
        traffic = by_version.get((model, version), [])
        sketch = merged_latency(traffic)
        cost = costs.get((model, version))
        state, finding_id = drift.get((model, version), ("unknown", None))
        run = runs.get((model, version))
        recommendation: dict[str, Any] = (run.recommendation or {}) if run is not None else {}
        summaries.append(
            ModelSummary(
                model_name=model,
                model_version=version,
                requests=sum(r.requests for r in traffic),
                errors=sum(r.errors for r in traffic),
                p50_ms=_quantile(sketch, 0.5),
                p99_ms=_quantile(sketch, 0.99),
                usd_per_hour=cost.usd_per_hour if cost is not None else None,
                usd_per_1k=cost.usd_per_1k_predictions if cost is not None else None,
                drift=state,
                drift_finding_id=finding_id,
                # An alert without a version label (cost is watched per model) counts for every version.
                firing_alerts=sum(
                    1 for labels in alerts if labels.get("model") == model and labels.get("version", version) == version
                ),
                shadow_run_id=run.id if run is not None else None,
                shadow_state=run.state if run is not None else None,
                shadow_decision=recommendation.get("decision"),
                shadow_headline=recommendation.get("headline") or None,
            )
        )
    return summaries


def _sort_value(summary: ModelSummary, key: str) -> Any:
    if key == "model":
        return (summary.model_name, summary.model_version)
    return getattr(summary, key)


def sort_summaries(summaries: Sequence[ModelSummary], key: str, descending: bool) -> list[ModelSummary]:
    """Sorted by ``key``; rows without a value go last whichever the order."""
    present = [s for s in summaries if _sort_value(s, key) is not None]
    absent = [s for s in summaries if _sort_value(s, key) is None]
    return sorted(present, key=lambda s: _sort_value(s, key), reverse=descending) + absent


@dataclass(frozen=True)
class ModelsView:
    """The models list as one request asked for it."""

    summaries: tuple[ModelSummary, ...]
    total: int
    range_name: str
    sort: str
    descending: bool
    next_offset: int | None


def models_list(engine: Engine, pricing: Pricing, now: datetime, query: Query) -> ModelsView:
    """The filtered, sorted and paged models list of a request."""
    paging = query.paging()
    range_name, range_s = query.range_s()
    sort = query.choice("sort", SORT_KEYS, "model")
    assert sort is not None
    default_order = "asc" if sort in ("model", "drift") else "desc"
    descending = query.choice("order", ("asc", "desc"), default_order) == "desc"
    model, version = query.text("model"), query.text("version")
    summaries = [
        s
        for s in model_summaries(engine, pricing, now, range_s)
        if (model is None or s.model_name == model) and (version is None or s.model_version == version)
    ]
    ordered = sort_summaries(summaries, sort, descending)
    page = ordered[paging.offset : paging.offset + paging.limit]
    more = paging.offset + paging.limit < len(ordered)
    return ModelsView(
        tuple(page), len(ordered), range_name, sort, descending, paging.offset + paging.limit if more else None
    )


def summary_to_json(summary: ModelSummary) -> dict[str, Any]:
    """The stable JSON shape of one models-list row."""
    return {
        "model": summary.model_name,
        "version": summary.model_version,
        "requests": summary.requests,
        "errors": summary.errors,
        "error_rate": summary.error_rate,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "usd_per_hour": summary.usd_per_hour,
        "usd_per_1k_predictions": summary.usd_per_1k,
        "drift": summary.drift,
        "drift_finding_id": summary.drift_finding_id,
        "firing_alerts": summary.firing_alerts,
        "last_shadow_run": None
        if summary.shadow_run_id is None
        else {
            "id": summary.shadow_run_id,
            "state": summary.shadow_state,
            "decision": summary.shadow_decision,
            "headline": summary.shadow_headline,
        },
    }
