"""The telemetry, model and finding tables, as typed SQLAlchemy models (alerts and shadow runs have their own
modules, ``alert_tables`` and ``shadow_tables``; the package registers all three on ``Base.metadata``).

Telemetry tables (spans, predictions, outcomes) keep time as integer nanoseconds since the epoch, as OTLP
sends it: no conversion on the ingest path, which has to keep up with tens of thousands of rows a second.
Every other timestamp is a UTC-aware ``UTCDateTime``.

Row classes are named ``...Row`` so they never shadow the domain dataclasses (``Prediction``, ``Finding``,
``Alert``) that the rest of the code passes around.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import uuid4

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from collector.core.limits import (
    ERROR_TYPE_CHARS,
    HARDWARE_CLASS_CHARS,
    MODEL_NAME_CHARS,
    MODEL_VERSION_CHARS,
    OPERATION_CHARS,
    PREDICTION_ID_CHARS,
    PROVIDER_CHARS,
    SERVICE_NAME_CHARS,
    SPAN_NAME_CHARS,
)
from collector.core.storage.base import Base, BigIntPK, JSONType, UTCDateTime, utcnow

MODEL_TASKS: Final = ("classification", "regression", "generation", "embedding", "unspecified")
SPAN_STATUS_CODES: Final = (0, 1, 2)  # OTLP: unset, ok, error
REFERENCE_SOURCES: Final = ("time_range", "file")
SEVERITIES: Final = ("info", "warning", "critical")


def one_of(column: str, values: tuple[str, ...] | tuple[int, ...]) -> CheckConstraint:
    """A CHECK that ``column`` holds one of ``values``; named ``ck_<table>_<column>`` by the convention."""
    allowed = ", ".join(repr(value) for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


def new_id() -> str:
    """A random UUID as text: the key of rows that are named in URLs and CLI output."""
    return str(uuid4())


class ModelRow(Base):
    """A model that inferwatch watches, by name."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    versions: Mapped[list[ModelVersionRow]] = relationship(
        back_populates="model", cascade="all, delete-orphan", passive_deletes=True
    )


class ModelVersionRow(Base):
    """One registered version of a model and the artifact that serves it."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        one_of("task", MODEL_TASKS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(Integer, ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(128))
    artifact_uri: Mapped[str] = mapped_column(Text)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_format: Mapped[str] = mapped_column(String(16), default="onnx")
    hardware_class: Mapped[str] = mapped_column(String(64), default="cpu")
    task: Mapped[str] = mapped_column(String(32), default="unspecified")
    class_labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # ``metadata`` is reserved on declarative classes, so only the column keeps that name.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    model: Mapped[ModelRow] = relationship(back_populates="versions")


class SpanRow(Base):
    """One OpenTelemetry span, with the fields detectors query pulled out of the raw OTLP bytes."""

    __tablename__ = "spans"
    __table_args__ = (
        # The idempotency key for OTLP retries. It leads with the start time so that new keys land at the
        # end of the B-tree: SQLite inserts with a random-leading unique index run about 2.5x slower.
        Index(None, "start_unix_nano", "span_id", "trace_id", unique=True),
        Index(None, "model_name", "model_version", "start_unix_nano"),
        one_of("status_code", SPAN_STATUS_CODES),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    trace_id: Mapped[bytes] = mapped_column(LargeBinary(16))
    span_id: Mapped[bytes] = mapped_column(LargeBinary(8))
    parent_span_id: Mapped[bytes | None] = mapped_column(LargeBinary(8))
    name: Mapped[str] = mapped_column(String(SPAN_NAME_CHARS))
    kind: Mapped[int] = mapped_column(SmallInteger)
    service_name: Mapped[str] = mapped_column(String(SERVICE_NAME_CHARS))
    model_name: Mapped[str | None] = mapped_column(String(MODEL_NAME_CHARS))
    model_version: Mapped[str | None] = mapped_column(String(MODEL_VERSION_CHARS))
    operation: Mapped[str | None] = mapped_column(String(OPERATION_CHARS))
    provider: Mapped[str | None] = mapped_column(String(PROVIDER_CHARS))
    hardware_class: Mapped[str | None] = mapped_column(String(HARDWARE_CLASS_CHARS))
    start_unix_nano: Mapped[int] = mapped_column(BigInteger)
    end_unix_nano: Mapped[int] = mapped_column(BigInteger)
    status_code: Mapped[int] = mapped_column(SmallInteger)
    error_type: Mapped[str | None] = mapped_column(String(ERROR_TYPE_CHARS))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    is_inference: Mapped[bool] = mapped_column(Boolean)
    # The serialized OTLP span: attributes, events and links that no column pulls out.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)


class PredictionRow(Base):
    """One prediction a model made: its features and outputs, and its inputs when kept for replay."""

    __tablename__ = "predictions"
    __table_args__ = (
        Index(None, "model_name", "model_version", "ts_unix_nano"),
        # Retention deletes by time across models (migration 0006).
        Index(None, "ts_unix_nano"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    prediction_id: Mapped[str] = mapped_column(String(PREDICTION_ID_CHARS), unique=True)
    model_name: Mapped[str] = mapped_column(String(MODEL_NAME_CHARS))
    model_version: Mapped[str] = mapped_column(String(MODEL_VERSION_CHARS), default="")
    ts_unix_nano: Mapped[int] = mapped_column(BigInteger)
    received_unix_nano: Mapped[int] = mapped_column(BigInteger)
    features: Mapped[dict[str, float | str | None]] = mapped_column(JSONType)
    outputs: Mapped[Any] = mapped_column(JSONType)
    # Serialized input tensors, so a shadow run can replay exactly what the model saw.
    raw_inputs: Mapped[bytes | None] = mapped_column(LargeBinary)
    trace_id: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    span_id: Mapped[bytes | None] = mapped_column(LargeBinary(8))
    attributes: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    # NaN and infinity cannot be stored in JSON; the decoder nulls them and counts them here.
    non_finite_count: Mapped[int] = mapped_column(SmallInteger, default=0)


class OutcomeRow(Base):
    """The ground truth for one prediction, which may arrive long after it (or before it is flushed)."""

    __tablename__ = "outcomes"
    # No foreign key to predictions: an outcome can be written before its prediction leaves the ingest
    # queue, so the two are joined on prediction_id at query time.
    __table_args__ = (Index(None, "model_name", "ts_unix_nano"), Index(None, "ts_unix_nano"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    prediction_id: Mapped[str] = mapped_column(String(PREDICTION_ID_CHARS), unique=True)
    model_name: Mapped[str | None] = mapped_column(String(MODEL_NAME_CHARS))
    ts_unix_nano: Mapped[int] = mapped_column(BigInteger)
    received_unix_nano: Mapped[int] = mapped_column(BigInteger)
    actual: Mapped[Any] = mapped_column(JSONType)


class DriftReferenceRow(Base):
    """A fitted reference distribution that drift detectors compare a model version's windows against."""

    # Not ``references``: that is a reserved word in PostgreSQL.
    __tablename__ = "drift_references"
    __table_args__ = (
        UniqueConstraint("model_name", "model_version", "name"),
        one_of("source", REFERENCE_SOURCES),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128), default="default")
    source: Mapped[str] = mapped_column(String(16))
    range_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    range_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_path: Mapped[str | None] = mapped_column(Text)
    row_count: Mapped[int] = mapped_column(BigInteger)
    # Feature names with their types, in the order the fitted reference uses.
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    fitted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DriftSummaryRow(Base):
    """One interval of a model version's predictions, summarised on one reference's bins.

    Drift windows are merged from these, so each prediction is read once, whatever the window size or how
    often rolling windows are evaluated. Rows go with their reference: a new reference has new bins.
    """

    __tablename__ = "drift_summaries"
    __table_args__ = (UniqueConstraint("reference_id", "bucket_s", "bucket_start_unix_s"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    reference_id: Mapped[int] = mapped_column(ForeignKey("drift_references.id", ondelete="CASCADE"))
    bucket_s: Mapped[int] = mapped_column(Integer)
    bucket_start_unix_s: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    # Predictions the interval held when it was summarised (more than ``rows`` when it was sampled): the
    # late-prediction pass forgets the summary when the interval holds a different number. None before 0010.
    source_rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # ``detectors.drift.reference.WindowSummary`` as JSON.
    summary: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SpanRollupRow(Base):
    """Inference spans of one model version, operation and hardware class, summed over one interval.

    Detectors read these instead of raw spans, so their cost does not grow with traffic. The latency
    summary is a mergeable log-bucket histogram (``detectors.latency_sketch``): buckets merge across
    intervals and replicas by adding counts.
    """

    __tablename__ = "span_rollups"
    __table_args__ = (
        UniqueConstraint(
            "model_name", "model_version", "operation", "hardware_class", "interval_s", "bucket_start_unix_s"
        ),
        Index(None, "bucket_start_unix_s"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(MODEL_NAME_CHARS))
    model_version: Mapped[str] = mapped_column(String(MODEL_VERSION_CHARS))
    operation: Mapped[str] = mapped_column(String(OPERATION_CHARS))
    hardware_class: Mapped[str] = mapped_column(String(HARDWARE_CLASS_CHARS))
    interval_s: Mapped[int] = mapped_column(Integer)
    bucket_start_unix_s: Mapped[int] = mapped_column(BigInteger)
    requests: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(BigInteger)
    # Sum of span durations: the busy time that self-hosted cost is attributed by.
    busy_ns: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    latency_sketch: Mapped[bytes] = mapped_column(LargeBinary)
    # Quantiles read from the summary when the row is written, so a detector pass over a day of rollups need
    # not decode a million summaries; None on rows written before revision 0005.
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p95_ms: Mapped[float | None] = mapped_column(Float)
    p99_ms: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class FindingRow(Base):
    """One detector's verdict on one model version over one window."""

    __tablename__ = "findings"
    __table_args__ = (
        # Re-evaluating a window (after a restart, or on another replica) updates its finding instead of
        # adding a second one.
        UniqueConstraint("detector", "model_name", "model_version", "subject", "window_start", "window_end"),
        Index(None, "model_name", "model_version", "created_at"),
        Index(None, "created_at"),
        Index(None, "revision"),
        one_of("severity", SEVERITIES),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[str] = mapped_column(String(128))
    detector: Mapped[str] = mapped_column(String(64))
    # What within the model the finding is about (a feature, an operation); "" for the model as a whole.
    subject: Mapped[str] = mapped_column(String(256), default="")
    severity: Mapped[str] = mapped_column(String(16))
    firing: Mapped[bool] = mapped_column(Boolean)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[float | None] = mapped_column(Float)
    expected: Mapped[float | None] = mapped_column(Float)
    band_low: Mapped[float | None] = mapped_column(Float)
    band_high: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Moves on when the finding is stored and whenever its verdict changes; the alert engine follows it
    # (collector.core.findings). The id never changes, so evidence links stay valid.
    revision: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class DeadLetterRow(Base):
    """A row the database refused for what it holds (not for an outage), kept with the reason.

    The writer isolates such rows from their batch and stores them here, so nothing acknowledged is lost
    silently and nothing one row holds can stop the rows behind it. ``payload`` is the pickled row tuple, in
    the column order of its table (``collector.core.domain``), for inspection or replay.
    """

    __tablename__ = "dead_letters"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # The table the row was meant for: spans, predictions or outcomes ("spool" for an unreadable record).
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    # A readable start of the row, for people; the payload is the whole of it.
    preview: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobCursorRow(Base):
    """How far a background job has read a growing table (by row id), so a restart carries on from there."""

    __tablename__ = "job_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
