"""Initial schema: models, telemetry, references, findings, alerts, silences and shadow runs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Self-contained: a version file never imports inferwatch code, whose models will have moved on by the
time this runs. The column types below are what the models used when this revision was written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# INTEGER on SQLite so the key is a rowid alias and autoincrements; 64-bit on PostgreSQL.
BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utc() -> sa.DateTime:
    """The storage type behind inferwatch's UTC timestamps."""
    return sa.DateTime(timezone=True)


def one_of(column: str, values: tuple[str, ...] | tuple[int, ...], table: str) -> sa.CheckConstraint:
    """CHECK (column IN (...)), named as the naming convention names it."""
    allowed = ", ".join(repr(value) for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


TABLES = (
    "models",
    "model_versions",
    "spans",
    "predictions",
    "outcomes",
    "drift_references",
    "findings",
    "alerts",
    "alert_deliveries",
    "silences",
    "shadow_runs",
    "shadow_variant_results",
)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_format", sa.String(16), nullable=False),
        sa.Column("hardware_class", sa.String(64), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("class_labels", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_model_versions_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_model_versions_model_id")),
        one_of("task", ("classification", "regression", "generation", "embedding", "unspecified"), "model_versions"),
    )
    op.create_table(
        "spans",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("trace_id", sa.LargeBinary(16), nullable=False),
        sa.Column("span_id", sa.LargeBinary(8), nullable=False),
        sa.Column("parent_span_id", sa.LargeBinary(8), nullable=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("service_name", sa.String(256), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=True),
        sa.Column("model_version", sa.String(128), nullable=True),
        sa.Column("operation", sa.String(256), nullable=True),
        sa.Column("provider", sa.String(128), nullable=True),
        sa.Column("hardware_class", sa.String(64), nullable=True),
        sa.Column("start_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("end_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("error_type", sa.String(256), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("is_inference", sa.Boolean(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spans")),
        one_of("status_code", (0, 1, 2), "spans"),
    )
    op.create_index(op.f("ix_spans_start_unix_nano"), "spans", ["start_unix_nano", "span_id", "trace_id"], unique=True)
    op.create_index(op.f("ix_spans_model_name"), "spans", ["model_name", "model_version", "start_unix_nano"])
    op.create_table(
        "predictions",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("prediction_id", sa.String(128), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("ts_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("received_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("outputs", JSON, nullable=False),
        sa.Column("raw_inputs", sa.LargeBinary(), nullable=True),
        sa.Column("trace_id", sa.LargeBinary(16), nullable=True),
        sa.Column("span_id", sa.LargeBinary(8), nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("non_finite_count", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
        sa.UniqueConstraint("prediction_id", name=op.f("uq_predictions_prediction_id")),
    )
    op.create_index(op.f("ix_predictions_model_name"), "predictions", ["model_name", "model_version", "ts_unix_nano"])
    op.create_table(
        "outcomes",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("prediction_id", sa.String(128), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=True),
        sa.Column("ts_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("received_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("actual", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("prediction_id", name=op.f("uq_outcomes_prediction_id")),
    )
    op.create_index(op.f("ix_outcomes_model_name"), "outcomes", ["model_name", "ts_unix_nano"])
    op.create_table(
        "drift_references",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("range_start", utc(), nullable=True),
        sa.Column("range_end", utc(), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("fitted", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_references")),
        sa.UniqueConstraint("model_name", "model_version", "name", name=op.f("uq_drift_references_model_name")),
        one_of("source", ("time_range", "file"), "drift_references"),
    )
    op.create_table(
        "findings",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("window_start", utc(), nullable=False),
        sa.Column("window_end", utc(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("band_low", sa.Float(), nullable=True),
        sa.Column("band_high", sa.Float(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("since", utc(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint(
            "detector",
            "model_name",
            "model_version",
            "subject",
            "window_start",
            "window_end",
            name=op.f("uq_findings_detector"),
        ),
        one_of("severity", ("info", "warning", "critical"), "findings"),
    )
    op.create_index(op.f("ix_findings_model_name"), "findings", ["model_name", "model_version", "created_at"])
    op.create_index(op.f("ix_findings_created_at"), "findings", ["created_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("annotations", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("starts_at", utc(), nullable=False),
        sa.Column("ends_at", utc(), nullable=True),
        sa.Column("updated_at", utc(), nullable=False),
        sa.Column("pending_since", utc(), nullable=True),
        sa.Column("last_finding_id", sa.BigInteger(), nullable=True),
        sa.Column("acked_by", sa.String(256), nullable=True),
        sa.Column("acked_at", utc(), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_alerts_fingerprint")),
        sa.ForeignKeyConstraint(
            ["last_finding_id"],
            ["findings.id"],
            name=op.f("fk_alerts_last_finding_id_findings"),
            ondelete="SET NULL",
        ),
        one_of("state", ("pending", "firing", "resolved"), "alerts"),
    )
    op.create_index(op.f("ix_alerts_state"), "alerts", ["state"])
    op.create_index(op.f("ix_alerts_last_finding_id"), "alerts", ["last_finding_id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("sink", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", utc(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("sent_at", utc(), nullable=True),
        sa.Column("locked_by", sa.String(128), nullable=True),
        sa.Column("locked_until", utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_deliveries_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        one_of("status", ("firing", "resolved"), "alert_deliveries"),
        one_of("state", ("pending", "sent", "retrying", "failed"), "alert_deliveries"),
    )
    op.create_index(op.f("ix_alert_deliveries_state"), "alert_deliveries", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_alert_deliveries_alert_id"), "alert_deliveries", ["alert_id"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("starts_at", utc(), nullable=False),
        sa.Column("ends_at", utc(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expired_at", utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index(op.f("ix_silences_ends_at"), "silences", ["ends_at"])
    op.create_table(
        "shadow_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("phase", sa.String(128), nullable=False),
        sa.Column("progress_done", sa.BigInteger(), nullable=False),
        sa.Column("progress_total", sa.BigInteger(), nullable=False),
        sa.Column("recommendation", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("started_at", utc(), nullable=True),
        sa.Column("finished_at", utc(), nullable=True),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_runs")),
        one_of("state", ("queued", "running", "succeeded", "failed", "cancelled"), "shadow_runs"),
    )
    op.create_index(op.f("ix_shadow_runs_state"), "shadow_runs", ["state", "created_at"])
    op.create_index(op.f("ix_shadow_runs_model_name"), "shadow_runs", ["model_name", "model_version", "created_at"])
    op.create_table(
        "shadow_variant_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("execution_provider", sa.String(64), nullable=False),
        sa.Column("hardware_class", sa.String(64), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_variant_results")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["shadow_runs.id"],
            name=op.f("fk_shadow_variant_results_run_id_shadow_runs"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("run_id", "name", "execution_provider", name=op.f("uq_shadow_variant_results_run_id")),
    )


def downgrade() -> None:
    """Drop every table (and with it every index), children before parents."""
    for table in reversed(TABLES):
        op.drop_table(table)
