"""Latency quantiles stored on span rollups, so detector passes and cost reports need not decode summaries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:10:00

The columns are nullable: rollups written before this revision have none, and readers fall back to the
latency summary for them. Self-contained: a version file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUANTILE_COLUMNS = ("p50_ms", "p95_ms", "p99_ms")


def upgrade() -> None:
    """Add p50_ms, p95_ms and p99_ms to span_rollups."""
    # batch_alter_table: SQLite cannot drop columns in place on every version the downgrade must support.
    with op.batch_alter_table("span_rollups") as batch:
        for name in QUANTILE_COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop the quantile columns."""
    with op.batch_alter_table("span_rollups") as batch:
        for name in reversed(QUANTILE_COLUMNS):
            batch.drop_column(name)
