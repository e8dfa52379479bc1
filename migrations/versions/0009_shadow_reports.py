"""The HTML report of each shadow run, kept with the run.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00

The pages serve a finished run's report, the same HTML that ``inferwatch shadow run --report`` writes. The
stored recommendation and per-variant metrics are not enough to draw it again, so the report is rendered once
when the run finishes and kept here; runs finished before this revision have none. Self-contained: a version
file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add shadow_runs.report_html."""
    with op.batch_alter_table("shadow_runs") as batch:
        batch.add_column(sa.Column("report_html", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop shadow_runs.report_html."""
    with op.batch_alter_table("shadow_runs") as batch:
        batch.drop_column("report_html")
