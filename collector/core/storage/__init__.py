"""Storage: the SQLAlchemy ``Base`` and tables, engines and sessions, bulk upserts, and migrations."""

from __future__ import annotations

from collector.core.storage.alert_tables import AlertCursorRow, AlertDeliveryRow, AlertGroupRow, AlertRow, SilenceRow
from collector.core.storage.base import NAMING_CONVENTION, Base, BigIntPK, JSONType, UTCDateTime, utcnow
from collector.core.storage.engine import create_engine_for, make_session_factory, normalize_url
from collector.core.storage.migrate import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    is_at_head,
    migrations_dir,
    upgrade,
)
from collector.core.storage.shadow_tables import ShadowRunRow, ShadowVariantResultRow
from collector.core.storage.tables import (
    DeadLetterRow,
    DriftReferenceRow,
    DriftSummaryRow,
    FindingRow,
    JobCursorRow,
    ModelRow,
    ModelVersionRow,
    OutcomeRow,
    PredictionRow,
    SpanRollupRow,
    SpanRow,
)
from collector.core.storage.upsert import insert_ignore, upsert

__all__ = [
    "NAMING_CONVENTION",
    "AlertCursorRow",
    "AlertDeliveryRow",
    "AlertGroupRow",
    "AlertRow",
    "Base",
    "BigIntPK",
    "DeadLetterRow",
    "DriftReferenceRow",
    "DriftSummaryRow",
    "FindingRow",
    "JSONType",
    "JobCursorRow",
    "ModelRow",
    "ModelVersionRow",
    "OutcomeRow",
    "PredictionRow",
    "ShadowRunRow",
    "ShadowVariantResultRow",
    "SilenceRow",
    "SpanRollupRow",
    "SpanRow",
    "UTCDateTime",
    "alembic_config",
    "create_engine_for",
    "current_revision",
    "downgrade",
    "head_revision",
    "insert_ignore",
    "is_at_head",
    "make_session_factory",
    "migrations_dir",
    "normalize_url",
    "upgrade",
    "upsert",
    "utcnow",
]
