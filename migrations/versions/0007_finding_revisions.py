"""A revision on every finding: the alert engine follows revisions, so a finding keeps its id when it changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:20:00

Before this revision a finding whose verdict changed was deleted and stored again under a new id, so that
the alert engine, which followed ids, would read it again. That broke the evidence links already sent for
the old id and left an open alert without one for a pass. Now the row stays and its revision moves on.
Existing findings get their id as revision, so the engine's stored cursor (the largest id it applied) is a
valid revision cursor. PostgreSQL hands out revisions from a sequence; SQLite, whose writers are serialised,
takes the largest plus one. Self-contained: a version file never imports inferwatch code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE = "findings_revision_seq"


def upgrade() -> None:
    """Add findings.revision (the id for existing rows), its index, and on PostgreSQL its sequence."""
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default=sa.text("0")))
    op.execute("UPDATE findings SET revision = id")
    op.create_index(op.f("ix_findings_revision"), "findings", ["revision"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE {SEQUENCE} AS BIGINT")
        op.execute(f"SELECT setval('{SEQUENCE}', (SELECT COALESCE(MAX(id), 0) + 1 FROM findings), false)")


def downgrade() -> None:
    """Drop the sequence, the index and the column."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
    op.drop_index(op.f("ix_findings_revision"), table_name="findings")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("revision")
