"""The delivery outbox: claim due notifications, send them, and record each attempt.

Sending is at-least-once and never twice at the same time. A replica claims a notification by writing its
lease on the entries, in a transaction that locks them with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
two replicas never claim the same one; a replica that dies mid-send loses its lease, and the entries are
sent again once it runs out. Within a group, notifications go out in the order they were decided: a newer
one waits while an older one is retried, so a receiver never sees "resolved" before "firing". Failures
are retried with exponential backoff and jitter until ``give_up_after``; a receiver that was down for an
hour gets everything once it is back.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from alerts.sinks.base import AlertSink, Notification, NotifiedAlert, SendResult
from collector.core.storage.alert_tables import AlertDeliveryRow, AlertGroupRow

logger = logging.getLogger(__name__)

UNSENT = ("pending", "retrying")
CLAIM_BATCH = 500


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, and when to stop."""

    initial_s: float = 5.0
    max_s: float = 300.0
    give_up_after_s: float = 24 * 3600.0
    lease_s: float = 60.0

    def delay_s(self, attempts: int, rng: random.Random) -> float:
        """Half the exponential delay, plus up to that much again at random, so replicas do not retry in step."""
        ceiling = min(self.max_s, self.initial_s * 2 ** max(0, attempts - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


@dataclass(frozen=True)
class Claimed:
    """A notification this replica holds the lease on."""

    notification_id: str
    receiver: str
    row_ids: tuple[int, ...]
    attempts: int
    created_at: datetime
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[NotifiedAlert, ...]


def _alert(payload: Mapping[str, object]) -> NotifiedAlert:
    ends = payload.get("ends_at")
    return NotifiedAlert(
        fingerprint=str(payload["fingerprint"]),
        status=str(payload["status"]),
        labels=dict(payload["labels"]),  # type: ignore[call-overload]
        annotations=dict(payload["annotations"]),  # type: ignore[call-overload]
        starts_at=datetime.fromisoformat(str(payload["starts_at"])),
        ends_at=datetime.fromisoformat(str(ends)) if ends else None,
        generator_url=str(payload.get("generator_url") or ""),
    )


def claim(
    engine: Engine, replica: str, now: datetime, lease_s: float, skip_receivers: Collection[str] = ()
) -> list[Claimed]:
    """Lease every due notification that is the oldest unsent one of its group, whole or not at all.

    Notifications to ``skip_receivers`` (receivers that already failed in this pass) are left alone.
    """
    conditions = [
        AlertDeliveryRow.state.in_(UNSENT),
        AlertDeliveryRow.next_attempt_at <= now,
        (AlertDeliveryRow.locked_until.is_(None)) | (AlertDeliveryRow.locked_until <= now),
    ]
    if skip_receivers:
        conditions.append(AlertDeliveryRow.sink.not_in(list(skip_receivers)))
    due = (
        select(AlertDeliveryRow)
        .where(*conditions)
        .order_by(AlertDeliveryRow.id)
        .limit(CLAIM_BATCH)
        .with_for_update(skip_locked=True)
    )
    claimed: list[Claimed] = []
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(due))
        if not rows:
            return []
        by_notification: dict[str, list[AlertDeliveryRow]] = defaultdict(list)
        for row in rows:
            by_notification[row.notification_id or str(row.id)].append(row)
        group_ids = {row.group_id for row in rows if row.group_id is not None}
        oldest = dict(
            session.execute(
                select(AlertDeliveryRow.group_id, func.min(AlertDeliveryRow.id))
                .where(AlertDeliveryRow.group_id.in_(group_ids), AlertDeliveryRow.state.in_(UNSENT))
                .group_by(AlertDeliveryRow.group_id)
            ).all()
        )
        sizes = dict(
            session.execute(
                select(AlertDeliveryRow.notification_id, func.count())
                .where(AlertDeliveryRow.notification_id.in_(list(by_notification)))
                .group_by(AlertDeliveryRow.notification_id)
            ).all()
        )
        groups = {
            group.id: group for group in session.scalars(select(AlertGroupRow).where(AlertGroupRow.id.in_(group_ids)))
        }
        until = now + timedelta(seconds=lease_s)
        for notification_id, entries in by_notification.items():
            first = entries[0]
            if first.group_id is not None and oldest.get(first.group_id) != first.id:
                continue  # an older notification of this group is still unsent
            if sizes.get(notification_id, len(entries)) != len(entries):
                continue  # partly locked by another replica, or cut by the batch limit: next pass
            for entry in entries:
                entry.locked_by, entry.locked_until = replica, until
            group = groups.get(first.group_id) if first.group_id is not None else None
            claimed.append(
                Claimed(
                    notification_id=notification_id,
                    receiver=first.sink,
                    row_ids=tuple(entry.id for entry in entries),
                    attempts=first.attempts,
                    created_at=first.created_at,
                    group_key=group.group_key if group else "",
                    group_labels=dict(group.group_labels) if group else {},
                    alerts=tuple(_alert(entry.payload) for entry in entries),
                )
            )
    return claimed


def release(engine: Engine, claimed: Sequence[Claimed], replica: str) -> None:
    """Give up the lease on notifications left unattempted, so the next pass claims them again at once."""
    row_ids = [row_id for item in claimed for row_id in item.row_ids]
    if not row_ids:
        return
    with engine.begin() as connection:
        connection.execute(
            update(AlertDeliveryRow)
            .where(AlertDeliveryRow.id.in_(row_ids), AlertDeliveryRow.locked_by == replica)
            .values(locked_by=None, locked_until=None)
        )


def send_one(sink: AlertSink, notification: Notification) -> SendResult:
    """Call a plugin, turning anything it raises into a retryable failure: one bad sink stops nothing."""
    try:
        result = sink.send(notification)
    except Exception as error:
        logger.exception("alert sink %r raised while sending notification %s", sink.name, notification.id)
        return SendResult(False, retryable=True, detail=f"{type(error).__name__}: {error}")
    if not isinstance(result, SendResult):
        return SendResult(False, retryable=True, detail=f"sink returned {type(result).__name__}, not SendResult")
    return result


def record(
    engine: Engine,
    claimed: Claimed,
    result: SendResult,
    *,
    replica: str,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> str:
    """Write the attempt to the delivery log; returns the entries' new state."""
    attempts = claimed.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "locked_by": None, "locked_until": None}
    if result.ok:
        state = "sent"
        values.update(sent_at=now, last_error=None)
    else:
        expired = now - claimed.created_at >= timedelta(seconds=policy.give_up_after_s)
        state = "failed" if expired or not result.retryable else "retrying"
        values.update(last_error=result.detail[:2000])
        if state == "retrying":
            values["next_attempt_at"] = now + timedelta(seconds=policy.delay_s(attempts, rng))
        logger.warning(
            "notification %s to %r failed (attempt %d, %s): %s",
            claimed.notification_id,
            claimed.receiver,
            attempts,
            state,
            result.detail,
        )
    values["state"] = state
    with engine.begin() as connection:
        # Only while the lease is still ours: after it ran out another replica may have taken the entries.
        connection.execute(
            update(AlertDeliveryRow)
            .where(AlertDeliveryRow.id.in_(claimed.row_ids), AlertDeliveryRow.locked_by == replica)
            .values(**values)
        )
    return state


def backlog(engine: Engine, now: datetime) -> tuple[int, float]:
    """How many deliveries wait unsent, and the age in seconds of the oldest (0 when none waits)."""
    with engine.connect() as connection:
        count, oldest = connection.execute(
            select(func.count(), func.min(AlertDeliveryRow.created_at)).where(AlertDeliveryRow.state.in_(UNSENT))
        ).one()
    if not count or oldest is None:
        return 0, 0.0
    return int(count), max(0.0, (now - oldest).total_seconds())
