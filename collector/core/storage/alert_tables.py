"""The alert engine's tables: alerts, their delivery outbox, aggregation groups, the findings cursor, silences."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collector.core.storage.base import Base, BigIntPK, JSONType, UTCDateTime, utcnow
from collector.core.storage.tables import new_id, one_of

ALERT_STATES: Final = ("pending", "firing", "resolved")
DELIVERY_STATUSES: Final = ("firing", "resolved")
DELIVERY_STATES: Final = ("pending", "sent", "retrying", "failed")


class AlertRow(Base):
    """An alert and where it is in its lifecycle; one row per fingerprint (its identifying labels)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(None, "state"),
        # Without it, deleting old findings scans alerts once per deleted row to apply SET NULL.
        Index(None, "last_finding_id"),
        one_of("state", ALERT_STATES),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    annotations: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finding_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("findings.id", ondelete="SET NULL"))
    acked_by: Mapped[str | None] = mapped_column(String(256))
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_comment: Mapped[str | None] = mapped_column(Text)
    # The window end of the newest firing finding: hysteresis resolves an alert only after a quiet stretch.
    last_firing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    deliveries: Mapped[list[AlertDeliveryRow]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", passive_deletes=True
    )


class AlertDeliveryRow(Base):
    """One notification of one alert to one sink: the outbox entry that is retried until it is sent."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        # The dispatcher's poll: due entries in a given state, oldest first.
        Index(None, "state", "next_attempt_at"),
        Index(None, "alert_id"),
        Index(None, "group_id"),
        one_of("status", DELIVERY_STATUSES),
        one_of("state", DELIVERY_STATES),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"))
    sink: Mapped[str] = mapped_column(String(128))
    # Which notification this is: the alert started firing, or it resolved.
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A replica's lease on the entry, so that a crashed sender's work is picked up once the lease expires.
    locked_by: Mapped[str | None] = mapped_column(String(128))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Entries of one notification share its id and are sent together, in one request to the sink.
    notification_id: Mapped[str | None] = mapped_column(String(36))
    # The aggregation group the notification was for: its entries go out in creation order.
    group_id: Mapped[int | None] = mapped_column(Integer)

    alert: Mapped[AlertRow] = relationship(back_populates="deliveries")


class AlertGroupRow(Base):
    """One aggregation group of one receiver, and what was last notified for it (Alertmanager's nflog)."""

    __tablename__ = "alert_groups"
    __table_args__ = (UniqueConstraint("receiver", "key_hash"), Index(None, "next_flush_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(String(128))
    # sha256 of group_key: the key itself can be long, and unique indexes on long text are not portable.
    key_hash: Mapped[str] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(Text)
    group_labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    # When the group is next looked at: group_wait after it formed, then every group_interval.
    next_flush_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_firing: Mapped[list[str]] = mapped_column(JSONType, default=list)
    notified_resolved: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertCursorRow(Base):
    """How far the alert engine has read a stream (the findings table), so a restart resumes there."""

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SilenceRow(Base):
    """A silence: alerts whose labels match its matchers are not notified between its start and end."""

    __tablename__ = "silences"
    __table_args__ = (Index(None, "ends_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # [{"name": ..., "value": ..., "is_regex": bool, "is_equal": bool}], as in Alertmanager.
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
