"""How many predictions each drift interval held when it was summarised.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:30:00

The late-prediction pass re-reads the predictions of its previous run (rows can commit out of id order on
PostgreSQL) and forgot every summary of an interval it saw rows for, so each interval was summarised twice.
With the interval's count at summarising time stored, a summary is forgotten only when its interval now holds
a different number of predictions. Rows written before this revision have none and are forgotten as before.
Self-contained: a version file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add drift_summaries.source_rows."""
    with op.batch_alter_table("drift_summaries") as batch:
        batch.add_column(sa.Column("source_rows", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop drift_summaries.source_rows."""
    with op.batch_alter_table("drift_summaries") as batch:
        batch.drop_column("source_rows")
