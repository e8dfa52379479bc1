"""Reading and changing alerts and silences: what ``inferwatch alerts ...`` and the AlertService do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from alerts.config import DEFAULT_INHIBIT_RULES, InhibitRule
from alerts.model import FIRING, Acknowledgement, Alert, Delivery, Inhibitor, Matcher, Silence
from alerts.muting import FiringAlert, active_silences, inhibited_by, silence_from_row, silenced_by
from collector.core.errors import InferwatchError
from collector.core.storage.alert_tables import AlertDeliveryRow, AlertRow, SilenceRow


class NotFoundError(InferwatchError):
    """No alert or silence by that identity."""


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list; label values must be equal, states one of those given (any when empty)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    states: tuple[str, ...] = ()
    include_silenced: bool = True
    limit: int = 100
    offset: int = 0


def _delivery(row: AlertDeliveryRow) -> Delivery:
    return Delivery(
        sink=row.sink,
        status=row.status,
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def _inhibitor(row: AlertRow) -> Inhibitor:
    return Inhibitor(
        fingerprint=row.fingerprint,
        alertname=row.labels.get("alertname", ""),
        severity=row.labels.get("severity", ""),
        summary=row.annotations.get("summary", ""),
    )


def _alerts(session: Session, rows: Sequence[AlertRow], now: datetime, rules: Sequence[InhibitRule]) -> list[Alert]:
    silences = active_silences(session, now)
    firing_rows = {row.fingerprint: row for row in session.scalars(select(AlertRow).where(AlertRow.state == FIRING))}
    firing = [FiringAlert(row.fingerprint, row.labels) for row in firing_rows.values()]
    alerts = []
    for row in rows:
        active = row.state == FIRING
        muted_by = inhibited_by(FiringAlert(row.fingerprint, row.labels), firing, rules) if active else ()
        ack = (
            Acknowledgement(row.acked_by or "", row.acked_at, row.ack_comment or "")
            if row.acked_at is not None
            else None
        )
        alerts.append(
            Alert(
                fingerprint=row.fingerprint,
                labels=dict(row.labels),
                annotations=dict(row.annotations),
                state=row.state,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                updated_at=row.updated_at,
                finding_id=row.last_finding_id,
                acknowledgement=ack,
                silenced_by=silenced_by(row.labels, silences) if active else (),
                inhibited_by=muted_by,
                inhibitors=tuple(_inhibitor(firing_rows[key]) for key in muted_by),
                deliveries=tuple(_delivery(d) for d in sorted(row.deliveries, key=lambda d: d.id)),
            )
        )
    return alerts


def list_alerts(
    engine: Engine, where: AlertFilter, now: datetime, rules: Sequence[InhibitRule] = DEFAULT_INHIBIT_RULES
) -> list[Alert]:
    """Alerts matching the filter, most recently changed first, with their delivery logs."""
    query = select(AlertRow).options(selectinload(AlertRow.deliveries)).order_by(AlertRow.updated_at.desc())
    if where.states:
        query = query.where(AlertRow.state.in_(where.states))
    with Session(engine) as session:
        rows = [row for row in session.scalars(query) if all(row.labels.get(k) == v for k, v in where.labels.items())]
        alerts = _alerts(session, rows, now, rules)
    if not where.include_silenced:
        alerts = [alert for alert in alerts if not alert.muted]
    return alerts[where.offset : where.offset + where.limit]


def get_alert(
    engine: Engine, fingerprint: str, now: datetime, rules: Sequence[InhibitRule] = DEFAULT_INHIBIT_RULES
) -> Alert:
    """One alert by fingerprint, or NotFoundError."""
    with Session(engine) as session:
        row = session.scalars(
            select(AlertRow).options(selectinload(AlertRow.deliveries)).where(AlertRow.fingerprint == fingerprint)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
        return _alerts(session, [row], now, rules)[0]


def acknowledge(engine: Engine, fingerprint: str, by: str, comment: str, now: datetime) -> Alert:
    """Record who acknowledged the alert; it is then not repeated until it resolves and fires again."""
    if not by.strip():
        raise ValueError("`by` must name who acknowledges the alert")
    with Session(engine) as session, session.begin():
        row = session.scalars(select(AlertRow).where(AlertRow.fingerprint == fingerprint)).one_or_none()
        if row is None:
            raise NotFoundError(f"no alert with fingerprint {fingerprint!r}")
        row.acked_by, row.acked_at, row.ack_comment = by, now, comment
    return get_alert(engine, fingerprint, now)


def create_silence(
    engine: Engine,
    matchers: Sequence[Matcher],
    *,
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
) -> Silence:
    """Store a silence; it needs at least one matcher, an author, and an end after its start."""
    if not matchers:
        raise ValueError("`matchers` must not be empty: a silence without matchers would mute everything")
    if ends_at <= starts_at:
        raise ValueError(f"`ends_at` must be after `starts_at`, got {ends_at.isoformat()} <= {starts_at.isoformat()}")
    if not created_by.strip():
        raise ValueError("`created_by` must name who silences")
    with Session(engine) as session, session.begin():
        row = SilenceRow(
            matchers=[matcher.to_json() for matcher in matchers],
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
        )
        session.add(row)
        session.flush()
        return silence_from_row(row)


def expire_silence(engine: Engine, silence_id: str, now: datetime) -> Silence:
    """End a silence now; expiring an expired one changes nothing."""
    with Session(engine) as session, session.begin():
        row = session.get(SilenceRow, silence_id)
        if row is None:
            raise NotFoundError(f"no silence with id {silence_id!r}")
        if row.expired_at is None and row.ends_at > now:
            # A silence lifted before it began never holds: both ends move to now, so it reads as expired.
            row.expired_at = now
            row.starts_at = min(row.starts_at, now)
            row.ends_at = now
        return silence_from_row(row)


def list_silences(engine: Engine, now: datetime, *, include_expired: bool = False) -> list[Silence]:
    """Silences, newest first; expired ones only when asked."""
    with Session(engine) as session:
        query = select(SilenceRow).order_by(SilenceRow.created_at.desc())
        if not include_expired:
            query = query.where(SilenceRow.ends_at > now)
        return [silence_from_row(row) for row in session.scalars(query)]


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """The stable JSON shape of an alert (CLI --json)."""
    ack = alert.acknowledgement
    return {
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state,
        "starts_at": _time(alert.starts_at),
        "ends_at": _time(alert.ends_at),
        "updated_at": _time(alert.updated_at),
        "finding_id": alert.finding_id,
        "acknowledgement": {"by": ack.by, "at": _time(ack.at), "comment": ack.comment} if ack else None,
        "silenced_by": list(alert.silenced_by),
        "inhibited_by": list(alert.inhibited_by),
        "inhibitors": [
            {"fingerprint": i.fingerprint, "alertname": i.alertname, "severity": i.severity, "summary": i.summary}
            for i in alert.inhibitors
        ],
        "deliveries": [
            {
                "sink": d.sink,
                "status": d.status,
                "state": d.state,
                "attempts": d.attempts,
                "created_at": _time(d.created_at),
                "next_attempt_at": _time(d.next_attempt_at),
                "sent_at": _time(d.sent_at),
                "last_error": d.last_error,
            }
            for d in alert.deliveries
        ],
    }


def silence_to_json(silence: Silence, now: datetime) -> dict[str, Any]:
    """The stable JSON shape of a silence (CLI --json)."""
    return {
        "id": silence.id,
        "matchers": [str(matcher) for matcher in silence.matchers],
        "starts_at": _time(silence.starts_at),
        "ends_at": _time(silence.ends_at),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "status": silence.status(now),
    }
