"""Span rollups: per model version, operation and hardware class, per interval.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 07:00:00

Self-contained: a version file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create span_rollups."""
    op.create_table(
        "span_rollups",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("operation", sa.String(256), nullable=False),
        sa.Column("hardware_class", sa.String(64), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("bucket_start_unix_s", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("busy_ns", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("latency_sketch", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_span_rollups")),
        sa.UniqueConstraint(
            "model_name",
            "model_version",
            "operation",
            "hardware_class",
            "interval_s",
            "bucket_start_unix_s",
            name=op.f("uq_span_rollups_model_name"),
        ),
    )
    op.create_index(op.f("ix_span_rollups_bucket_start_unix_s"), "span_rollups", ["bucket_start_unix_s"])


def downgrade() -> None:
    """Drop span_rollups."""
    op.drop_index(op.f("ix_span_rollups_bucket_start_unix_s"), table_name="span_rollups")
    op.drop_table("span_rollups")
