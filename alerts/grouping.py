"""Aggregation groups and the notification log: when a group is notified, and with which alerts.

Alertmanager's rules, kept in the ``alert_groups`` table so they hold across restarts and replicas. A new
group waits ``group_wait`` before its first notification, then is looked at every ``group_interval``. A
look sends a notification only when something changed since the last one (an alert fires that was not in
it; with ``send_resolved``, one resolved; or everything resolved), or when ``repeat_interval`` has passed
and some alert still fires unacknowledged. Silenced and inhibited alerts take no part. A notification is
one outbox entry per alert, sharing a notification id, committed in the same transaction as the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import uuid4

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig, Route
from alerts.lifecycle import evidence_url
from alerts.model import FIRING, RESOLVED, Silence
from alerts.muting import FiringAlert, active_silences, inhibited_by, silenced_by
from alerts.routing import GroupRef, group_for, matching_routes
from collector.core.storage.alert_tables import AlertDeliveryRow, AlertGroupRow, AlertRow


@dataclass(frozen=True)
class Timing:
    """The grouping timers one receiver gets on one route."""

    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    # Sinks that forget unless reminded (Alertmanager) are reminded even of acknowledged alerts.
    ignore_acks: bool = False


def timing_for(route: Route, resend_interval_s: float | None) -> Timing:
    """The route's timers; a sink with a resend interval groups itself, so it hears of every change at the
    next pass and of every firing alert again each interval."""
    if resend_interval_s is not None:
        return Timing(0.0, 0.0, resend_interval_s, ignore_acks=True)
    return Timing(route.group_wait_s, route.group_interval_s, route.repeat_interval_s)


@dataclass
class _Members:
    group: GroupRef
    timing: Timing
    firing: list[AlertRow] = field(default_factory=list)
    muted: list[AlertRow] = field(default_factory=list)


def snapshot(row: AlertRow, status: str, external_url: str) -> dict[str, object]:
    """An alert as the outbox keeps it: what was true when the notification was decided."""
    return {
        "fingerprint": row.fingerprint,
        "status": status,
        "labels": dict(row.labels),
        "annotations": dict(row.annotations),
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat() if row.ends_at and status == RESOLVED else None,
        "generator_url": evidence_url(external_url, row.last_finding_id) if row.last_finding_id else "",
    }


def _membership(
    session: Session, config: AlertsConfig, resend: Mapping[str, float | None], silences: Sequence[Silence]
) -> dict[str, _Members]:
    """Every group some firing alert is in, with its firing alerts split into notifiable and muted."""
    assert config.route is not None
    rows = list(session.scalars(select(AlertRow).where(AlertRow.state == FIRING).order_by(AlertRow.id)))
    firing = [FiringAlert(row.fingerprint, row.labels) for row in rows]
    groups: dict[str, _Members] = {}
    for row in rows:
        me = FiringAlert(row.fingerprint, row.labels)
        muted = bool(silenced_by(row.labels, silences) or inhibited_by(me, firing, config.inhibit_rules))
        for route in matching_routes(config.route, row.labels):
            ref = group_for(route, row.labels, row.fingerprint)
            members = groups.setdefault(ref.key_hash, _Members(ref, timing_for(route, resend.get(route.receiver))))
            (members.muted if muted else members.firing).append(row)
    return groups


def _group_rows(session: Session, groups: Mapping[str, _Members], now: datetime) -> list[AlertGroupRow]:
    """The stored groups that have members or are due, creating those that are new."""
    wanted = [(m.group.receiver, key) for key, m in groups.items()]
    conditions = [AlertGroupRow.next_flush_at <= now]
    if wanted:
        conditions.append(tuple_(AlertGroupRow.receiver, AlertGroupRow.key_hash).in_(wanted))
    rows = {row.key_hash: row for row in session.scalars(select(AlertGroupRow).where(or_(*conditions)))}
    for key, members in groups.items():
        row = rows.get(key)
        if row is None:
            row = AlertGroupRow(
                receiver=members.group.receiver,
                key_hash=key,
                group_key=members.group.key,
                group_labels=dict(members.group.labels),
                notified_firing=[],
                notified_resolved=[],
            )
            session.add(row)
            rows[key] = row
        if row.next_flush_at is None:
            row.next_flush_at = now + timedelta(seconds=members.timing.group_wait_s)
    session.flush()
    return sorted(rows.values(), key=lambda row: row.id)


def _enqueue(
    session: Session, group: AlertGroupRow, alerts: Sequence[tuple[AlertRow, str]], external_url: str, now: datetime
) -> None:
    notification_id = str(uuid4())
    for row, status in alerts:
        session.add(
            AlertDeliveryRow(
                alert_id=row.id,
                sink=group.receiver,
                status=status,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                # On the pass's clock, like next_attempt_at: give_up_after counts from it.
                created_at=now,
                payload=snapshot(row, status, external_url),
                notification_id=notification_id,
                group_id=group.id,
            )
        )


def _flush(
    session: Session,
    group: AlertGroupRow,
    members: _Members | None,
    *,
    send_resolved: bool,
    silences: Sequence[Silence],
    external_url: str,
    now: datetime,
) -> bool:
    """Notify the group if it needs it; returns whether a notification was enqueued."""
    firing = members.firing if members else []
    firing_keys = {row.fingerprint for row in firing}
    before = set(group.notified_firing)
    gone = sorted(before - firing_keys - {row.fingerprint for row in (members.muted if members else [])})
    resolved = (
        list(session.scalars(select(AlertRow).where(AlertRow.fingerprint.in_(gone), AlertRow.state != FIRING)))
        if gone
        else []
    )
    # A silenced alert's resolution is muted like its firing was (Alertmanager mutes by labels, not state).
    audible = [row for row in resolved if not silenced_by(row.labels, silences)] if send_resolved else []
    timing = members.timing if members else Timing(0.0, 0.0, 0.0)
    first = group.last_notified_at is None
    repeat = (
        bool(firing)
        and group.last_notified_at is not None
        and now - group.last_notified_at >= timedelta(seconds=timing.repeat_interval_s)
        and (timing.ignore_acks or any(row.acked_at is None for row in firing))
    )
    changed = bool(firing) and (first or not firing_keys <= before)
    sent = False
    if changed or repeat or audible:
        alerts = [(row, FIRING) for row in firing] + [(row, RESOLVED) for row in audible]
        _enqueue(session, group, alerts, external_url, now)
        group.last_notified_at = now
        sent = True
    if sent or resolved:
        group.notified_firing = sorted(firing_keys)
        group.notified_resolved = [row.fingerprint for row in resolved]
    if members is None or not (members.firing or members.muted):
        # Nothing fires here any more: the group ends, and a new alert starts a new one after group_wait.
        group.next_flush_at = None
        group.last_notified_at = None
        group.notified_firing = []
    else:
        group.next_flush_at = now + timedelta(seconds=timing.group_interval_s)
    return sent


def plan_notifications(
    session: Session, config: AlertsConfig, resend: Mapping[str, float | None], now: datetime
) -> int:
    """Look at every group that is due and enqueue its notification; returns how many were enqueued."""
    if config.route is None:
        return 0
    silences = active_silences(session, now)
    groups = _membership(session, config, resend, silences)
    enqueued = 0
    for row in _group_rows(session, groups, now):
        if row.next_flush_at is None or row.next_flush_at > now:
            continue
        receiver = config.receivers.get(row.receiver)
        send_resolved = receiver.send_resolved if receiver else True
        enqueued += _flush(
            session,
            row,
            groups.get(row.key_hash),
            send_resolved=send_resolved,
            silences=silences,
            external_url=config.external_url,
            now=now,
        )
    session.flush()
    return enqueued
