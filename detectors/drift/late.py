"""Late predictions: an interval summarised before all its predictions arrived is summarised again.

Drift windows merge stored per-interval summaries (``drift_summaries``), each written once. Predictions that
arrive after their interval was summarised (a client flushing a backlog, a backfill) would be left out of
every later window that covers the interval. Each pass reads the predictions table by row id from where it
stopped (a cursor in ``job_cursors``) and forgets the stored summaries of the intervals that received new
predictions; the next window that needs them summarises them again, whole.

A pass re-reads its previous pass's rows too (a row can commit after higher ids on PostgreSQL), and those are
mostly the very predictions the last windows summarised. So a summary is forgotten only when its interval
now holds a different number of predictions than it did when summarised (``source_rows``): otherwise every
interval would be read and summarised twice.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import Engine

from collector.core.storage.cursors import advance, next_window
from collector.core.storage.tables import DriftReferenceRow, DriftSummaryRow, PredictionRow

CURSOR = "drift_summaries"
NANOS = 1_000_000_000
MAX_ROWS_PER_PASS = 2_000_000


def forget_stale_summaries(engine: Engine, bucket_s: int, max_rows: int = MAX_ROWS_PER_PASS) -> int:
    """Delete stored interval summaries that predictions arrived for since the last pass; returns how many."""
    with engine.connect() as connection:
        top = connection.execute(select(func.max(PredictionRow.id))).scalar_one_or_none()
        window = next_window(connection, CURSOR, top, max_rows)
        if window is None:
            return 0
        bucket = (PredictionRow.ts_unix_nano // (bucket_s * NANOS)).label("bucket")
        touched = connection.execute(
            select(PredictionRow.model_name, PredictionRow.model_version, bucket)
            .where(PredictionRow.id > window.start_id, PredictionRow.id <= window.end_id)
            .group_by(PredictionRow.model_name, PredictionRow.model_version, bucket)
        ).all()
    starts: dict[tuple[str, str], list[int]] = defaultdict(list)
    for model, version, index in touched:
        starts[(model, version)].append(int(index) * bucket_s)
    deleted = 0
    with engine.begin() as connection:
        for (model, version), bucket_starts in starts.items():
            references = select(DriftReferenceRow.id).where(
                DriftReferenceRow.model_name == model, DriftReferenceRow.model_version == version
            )
            for start in bucket_starts:
                held = connection.execute(
                    select(func.count())
                    .select_from(PredictionRow)
                    .where(
                        PredictionRow.model_name == model,
                        PredictionRow.model_version == version,
                        PredictionRow.ts_unix_nano >= start * NANOS,
                        PredictionRow.ts_unix_nano < (start + bucket_s) * NANOS,
                    )
                ).scalar_one()
                deleted += connection.execute(
                    delete(DriftSummaryRow).where(
                        DriftSummaryRow.reference_id.in_(references.scalar_subquery()),
                        DriftSummaryRow.bucket_s == bucket_s,
                        DriftSummaryRow.bucket_start_unix_s == start,
                        or_(DriftSummaryRow.source_rows.is_(None), DriftSummaryRow.source_rows != held),
                    )
                ).rowcount
        advance(connection, window)
    return deleted
