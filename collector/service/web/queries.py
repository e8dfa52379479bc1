"""The lists behind the JSON endpoints and the pages: findings, alerts and shadow runs, filtered and paged.

Each ``*_list`` reads one request's parameters (``params.Query``), so the endpoint and the page that shows the
same list accept the same filters and refuse the same mistakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from alerts.config import InhibitRule
from alerts.model import Alert
from alerts.store import AlertFilter, list_alerts
from collector.core.domain import Finding
from collector.core.findings import FindingFilter, list_findings
from collector.core.storage.alert_tables import ALERT_STATES
from collector.core.storage.shadow_tables import SHADOW_RUN_STATES, ShadowRunRow
from collector.service.web.params import PAGING, Paging, Query

FINDING_PARAMS: Final = ("model", "version", "detector", "since", "firing", *PAGING)
ALERT_PARAMS: Final = ("state", "model", "version", "alertname", "severity", "silenced", "acknowledged", *PAGING)
SHADOW_PARAMS: Final = ("model", "version", "state", *PAGING)
# Statuses the alerts page groups by: the lifecycle states, and the two a person adds on top of them.
ALERT_STATUSES: Final = ("firing", "pending", "silenced", "acknowledged", "resolved")
T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """One page of a list, and the offset of the next page when there is more."""

    items: tuple[T, ...]
    paging: Paging
    next_offset: int | None


def _page(items: Sequence[T], paging: Paging) -> Listed[T]:
    """``items`` holds up to ``limit + 1`` rows from ``offset``: one more than asked says there is a next page."""
    more = len(items) > paging.limit
    return Listed(tuple(items[: paging.limit]), paging, paging.offset + paging.limit if more else None)


def findings_list(engine: Engine, query: Query) -> Listed[Finding]:
    """Findings, newest window first."""
    paging = query.paging()
    where = FindingFilter(
        model_name=query.text("model"),
        model_version=query.text("version"),
        detector=query.text("detector"),
        since=query.moment("since"),
        firing_only=bool(query.boolean("firing")),
        limit=paging.limit + 1,
        offset=paging.offset,
    )
    return _page(list_findings(engine, where), paging)


def alert_status(alert: Alert) -> str:
    """What a person reads first: silenced or acknowledged outrank the lifecycle state while it is active."""
    if alert.state != "resolved":
        if alert.muted:
            return "silenced"
        if alert.acknowledgement is not None:
            return "acknowledged"
    return alert.state


def alerts_list(engine: Engine, query: Query, now: datetime, rules: Sequence[InhibitRule]) -> Listed[Alert]:
    """Alerts, most recently changed first, with their delivery logs."""
    paging = query.paging()
    labels = {
        label: value
        for label, value in (
            ("model", query.text("model")),
            ("version", query.text("version")),
            ("alertname", query.text("alertname")),
            ("severity", query.text("severity")),
        )
        if value is not None
    }
    states = query.choices("state", ALERT_STATES)
    silenced, acknowledged = query.boolean("silenced"), query.boolean("acknowledged")
    # The store pages after its own filters; silenced and acknowledged are known only after reading, so
    # every match is read and the page is cut here. Alerts are one row per condition: few, not many.
    everything = list_alerts(engine, AlertFilter(labels=labels, states=states, limit=10**9), now, rules)
    kept = [
        alert
        for alert in everything
        if (silenced is None or alert.muted == silenced)
        and (acknowledged is None or (alert.acknowledgement is not None) == acknowledged)
    ]
    return _page(kept[paging.offset : paging.offset + paging.limit + 1], paging)


@dataclass(frozen=True)
class ShadowRunSummary:
    """A shadow run as the list shows it: what ran, where it is, and what it recommends."""

    id: str
    model_name: str
    model_version: str
    state: str
    phase: str
    created_at: datetime
    finished_at: datetime | None
    decision: str | None
    headline: str | None
    error: str | None
    has_report: bool
    progress_done: int = 0
    progress_total: int = 0
    # The replica holding the run's lease (while running) and its last heartbeat; see shadow.execution.
    owner: str | None = None
    heartbeat_at: datetime | None = None
    interruptions: int = 0
    notes: tuple[str, ...] = ()
    # Each part's state, progress, node and error (shadow.replay.PartProgress.to_dict).
    parts: tuple[dict[str, Any], ...] = ()


def _run_summary(row: ShadowRunRow) -> ShadowRunSummary:
    recommendation: dict[str, Any] = row.recommendation or {}
    return ShadowRunSummary(
        id=row.id,
        model_name=row.model_name,
        model_version=row.model_version,
        state=row.state,
        phase=row.phase,
        created_at=row.created_at,
        finished_at=row.finished_at,
        decision=recommendation.get("decision"),
        headline=recommendation.get("headline") or None,
        error=row.error,
        has_report=row.report_html is not None,
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        owner=row.claimed_by if row.state == "running" else None,
        heartbeat_at=row.heartbeat_at if row.state == "running" else None,
        interruptions=row.interruptions or 0,
        notes=tuple(row.notes or ()),
        parts=tuple(row.parts or ()),
    )


def shadow_runs_list(engine: Engine, query: Query) -> Listed[ShadowRunSummary]:
    """Shadow runs, newest first."""
    paging = query.paging()
    statement = select(ShadowRunRow).order_by(ShadowRunRow.created_at.desc(), ShadowRunRow.id)
    model, version = query.text("model"), query.text("version")
    states = query.choices("state", SHADOW_RUN_STATES)
    if model is not None:
        statement = statement.where(ShadowRunRow.model_name == model)
    if version is not None:
        statement = statement.where(ShadowRunRow.model_version == version)
    if states:
        statement = statement.where(ShadowRunRow.state.in_(states))
    statement = statement.limit(paging.limit + 1).offset(paging.offset)
    with Session(engine) as session:
        return _page([_run_summary(row) for row in session.scalars(statement)], paging)


def shadow_report(engine: Engine, run_id: str) -> tuple[ShadowRunSummary, str | None] | None:
    """A run and its stored HTML report (None when it has none), or None when there is no such run."""
    with Session(engine) as session:
        row = session.get(ShadowRunRow, run_id)
        return (_run_summary(row), row.report_html) if row is not None else None


def shadow_run_to_json(run: ShadowRunSummary) -> dict[str, Any]:
    """The stable JSON shape of a listed shadow run."""
    return {
        "id": run.id,
        "model": run.model_name,
        "version": run.model_version,
        "state": run.state,
        "phase": run.phase,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "decision": run.decision,
        "headline": run.headline,
        "error": run.error,
        "report": f"/shadow-runs/{run.id}/report" if run.has_report else None,
        "progress": {"done": run.progress_done, "total": run.progress_total},
        "owner": run.owner,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "interruptions": run.interruptions,
        "notes": list(run.notes),
        "parts": [dict(part) for part in run.parts],
    }
