"""Shadow runs as leases, with per-part progress.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:00:00

A run survives a service restart and is visible from any replica: the replica running it (``claimed_by``,
already there) refreshes ``heartbeat_at`` as it goes, and another replica takes over a run whose heartbeat went
stale. ``interruptions`` counts those takeovers, so a run that kills its service fails instead of looping;
``notes`` says what happened on the way; ``parts`` is each part's state, progress, node and error. Rows from
before this revision have no lease, no notes and no parts. Self-contained: a version file never imports
inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add shadow_runs.heartbeat_at, interruptions, notes and parts."""
    with op.batch_alter_table("shadow_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("interruptions", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("notes", JSON, nullable=True))
        batch.add_column(sa.Column("parts", JSON, nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("shadow_runs") as batch:
        batch.drop_column("parts")
        batch.drop_column("notes")
        batch.drop_column("interruptions")
        batch.drop_column("heartbeat_at")
