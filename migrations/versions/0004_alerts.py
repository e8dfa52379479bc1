"""Alert delivery: aggregation groups (the notification log), notification ids, the engine's cursor.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:00:00

Self-contained: a version file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utc() -> sa.DateTime:
    """The storage type behind inferwatch's UTC timestamps."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create alert_groups and alert_cursors; add the columns delivery and hysteresis need."""
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("group_labels", JSON, nullable=False),
        sa.Column("next_flush_at", utc(), nullable=True),
        sa.Column("last_notified_at", utc(), nullable=True),
        sa.Column("notified_firing", JSON, nullable=False),
        sa.Column("notified_resolved", JSON, nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_groups")),
        sa.UniqueConstraint("receiver", "key_hash", name=op.f("uq_alert_groups_receiver")),
    )
    op.create_index(op.f("ix_alert_groups_next_flush_at"), "alert_groups", ["next_flush_at"])
    op.create_table(
        "alert_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_cursors")),
    )
    # Plain ADD COLUMN (nullable, no foreign key) works in place on both SQLite and PostgreSQL.
    op.add_column("alerts", sa.Column("last_firing_at", utc(), nullable=True))
    op.add_column("alert_deliveries", sa.Column("notification_id", sa.String(36), nullable=True))
    op.add_column("alert_deliveries", sa.Column("group_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_alert_deliveries_group_id"), "alert_deliveries", ["group_id"])


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_index(op.f("ix_alert_deliveries_group_id"), table_name="alert_deliveries")
    op.drop_column("alert_deliveries", "group_id")
    op.drop_column("alert_deliveries", "notification_id")
    op.drop_column("alerts", "last_firing_at")
    op.drop_table("alert_cursors")
    op.drop_index(op.f("ix_alert_groups_next_flush_at"), table_name="alert_groups")
    op.drop_table("alert_groups")
