"""Drift summaries: per reference, per interval, a model version's predictions on the reference's bins.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 17:30:00

Self-contained: a version file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create drift_summaries."""
    op.create_table(
        "drift_summaries",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("reference_id", sa.Integer(), nullable=False),
        sa.Column("bucket_s", sa.Integer(), nullable=False),
        sa.Column("bucket_start_unix_s", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["drift_references.id"],
            name=op.f("fk_drift_summaries_reference_id_drift_references"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_summaries")),
        sa.UniqueConstraint(
            "reference_id", "bucket_s", "bucket_start_unix_s", name=op.f("uq_drift_summaries_reference_id")
        ),
    )


def downgrade() -> None:
    """Drop drift_summaries."""
    op.drop_table("drift_summaries")
