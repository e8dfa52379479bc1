"""The shadow runner's tables: runs, from request to recommendation, and each variant's result."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collector.core.storage.base import Base, JSONType, NullableJSONType, UTCDateTime, utcnow
from collector.core.storage.tables import new_id, one_of

SHADOW_RUN_STATES: Final = ("queued", "running", "succeeded", "failed", "cancelled")


class ShadowRunRow(Base):
    """One shadow comparison of a model version against its variants, from request to recommendation."""

    __tablename__ = "shadow_runs"
    __table_args__ = (
        Index(None, "state", "created_at"),
        Index(None, "model_name", "model_version", "created_at"),
        one_of("state", SHADOW_RUN_STATES),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    # What was asked for: variants, how many recorded requests, batch size, quality and latency margins.
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    phase: Mapped[str] = mapped_column(String(128), default="")
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int] = mapped_column(BigInteger, default=0)
    recommendation: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The lease (migration 0011): the replica running the run, and when it last said so. A replica claims a
    # queued run, or a running one whose heartbeat went stale (its owner crashed), with one conditional UPDATE.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # How often the run was taken over after its owner's lease expired; bounded so a run that kills its
    # service cannot loop for ever.
    interruptions: Mapped[int] = mapped_column(Integer, default=0)
    # What happened to the run on its way (released at a stop, resumed elsewhere), oldest first.
    notes: Mapped[list[str] | None] = mapped_column(NullableJSONType)
    # Each part (the baseline, each variant on each provider) as the replay last reported it: key, state,
    # progress, node and error (shadow.replay.PartProgress.to_dict).
    parts: Mapped[list[dict[str, Any]] | None] = mapped_column(NullableJSONType)
    # The HTML report as the CLI writes it, rendered when the run finishes (migration 0009), for the pages.
    report_html: Mapped[str | None] = mapped_column(Text)

    variant_results: Mapped[list[ShadowVariantResultRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class ShadowVariantResultRow(Base):
    """What one variant of a shadow run measured on one execution provider."""

    __tablename__ = "shadow_variant_results"
    __table_args__ = (UniqueConstraint("run_id", "name", "execution_provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("shadow_runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    execution_provider: Mapped[str] = mapped_column(String(64))
    hardware_class: Mapped[str] = mapped_column(String(64))
    # Latency percentiles, throughput, memory and quality deltas, as the comparison computed them.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    run: Mapped[ShadowRunRow] = relationship(back_populates="variant_results")
