"""Indexes on the timestamps of predictions and outcomes, so retention deletes by time without a table scan.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 22:00:00

The existing indexes lead with the model name; a delete of everything older than a cutoff, across models,
could not use them and would scan the table on every detector pass. Self-contained: a version file never
imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index predictions.ts_unix_nano and outcomes.ts_unix_nano."""
    op.create_index(op.f("ix_predictions_ts_unix_nano"), "predictions", ["ts_unix_nano"])
    op.create_index(op.f("ix_outcomes_ts_unix_nano"), "outcomes", ["ts_unix_nano"])


def downgrade() -> None:
    """Drop the two indexes."""
    op.drop_index(op.f("ix_outcomes_ts_unix_nano"), table_name="outcomes")
    op.drop_index(op.f("ix_predictions_ts_unix_nano"), table_name="predictions")
