"""The writer's dead-letter table and the cursors of background jobs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00

``dead_letters`` keeps rows the database refused for what they hold, with the reason, instead of the writer
dropping them (or dying on them). ``job_cursors`` keeps how far the rollup job has read the spans table by
row id, so spans that arrive late (a backfill, a service flushing a backlog) are rolled up whenever they
come. Self-contained: a version file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create dead_letters and job_cursors."""
    op.create_table(
        "dead_letters",
        sa.Column("id", _BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(op.f("ix_dead_letters_created_at"), "dead_letters", ["created_at"])
    op.create_table(
        "job_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_cursors")),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("job_cursors")
    op.drop_index(op.f("ix_dead_letters_created_at"), table_name="dead_letters")
    op.drop_table("dead_letters")
