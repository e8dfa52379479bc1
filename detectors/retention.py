"""Retention: each kind of data is pruned on its own clock, by the detector pass.

Raw spans are only needed until they are rolled up (and for as long as someone wants to read them);
rollups feed every detector and the cost report, so they are kept much longer. A raw span the rollup job
has not read yet is never pruned, whatever the retention says; and the rollup job never recomputes an
interval older than the raw-span retention (its spans may be half pruned), it counts late spans for it
instead (``detectors.rollups``).

Predictions (with the raw inputs shadow runs replay) and their outcomes are the largest tables; drift
reads them only within its windows, and a fitted reference keeps what it needs, so they go after
``predictions_s``. Findings, and the drift interval summaries they were computed from, go after
``findings_s``, with the alert delivery log's finished entries; an alert that still points at a pruned
finding loses only its evidence link.

Deletes run in batches of ``BATCH_ROWS``, a transaction each, so a backlog of a day's predictions never
holds SQLite's write lock against ingest for long.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from collector.core.storage.alert_tables import AlertDeliveryRow
from collector.core.storage.cursors import read_cursor, write_cursor
from collector.core.storage.tables import DriftSummaryRow, FindingRow, OutcomeRow, PredictionRow, SpanRollupRow, SpanRow

# Written here, read by the rollup job (detectors.rollups.PRUNED_BEFORE).
PRUNED_BEFORE = "spans.pruned_before_s"
DAY_S = 86400
NANOS = 1_000_000_000
BATCH_ROWS = 10_000
FINISHED_DELIVERY_STATES = ("sent", "failed")


@dataclass(frozen=True)
class RetentionOptions:
    """How long each kind of data is kept, in seconds; None keeps it forever."""

    raw_spans_s: int | None = 7 * DAY_S
    rollups_s: int | None = 90 * DAY_S
    predictions_s: int | None = 30 * DAY_S
    findings_s: int | None = 90 * DAY_S

    def __post_init__(self) -> None:
        for option in fields(self):
            value = getattr(self, option.name)
            if value is not None and value <= 0:
                raise ValueError(f"`{option.name}` must be > 0 or None (keep forever), got {value}")

    @classmethod
    def from_days(
        cls, raw_spans_days: float, rollups_days: float, predictions_days: float, findings_days: float
    ) -> RetentionOptions:
        """From the configuration's days, where 0 keeps forever."""
        return cls(
            raw_spans_s=round(raw_spans_days * DAY_S) or None,
            rollups_s=round(rollups_days * DAY_S) or None,
            predictions_s=round(predictions_days * DAY_S) or None,
            findings_s=round(findings_days * DAY_S) or None,
        )


@dataclass(frozen=True)
class Pruned:
    """What one pruning step deleted."""

    spans: int = 0
    rollups: int = 0
    predictions: int = 0
    outcomes: int = 0
    findings: int = 0
    drift_summaries: int = 0
    deliveries: int = 0

    @property
    def total(self) -> int:
        """Rows deleted, all kinds together."""
        return sum(getattr(self, option.name) for option in fields(self))


def _delete_before(engine: Engine, table: Any, column: Any, cutoff: object, *also: Any) -> int:
    """Delete every row of ``table`` whose ``column`` is below ``cutoff`` (and that meets ``also``),
    BATCH_ROWS per transaction."""
    deleted = 0
    while True:
        with engine.begin() as connection:
            ids = select(table.id).where(column < cutoff, *also).limit(BATCH_ROWS).scalar_subquery()
            count = connection.execute(delete(table).where(table.id.in_(ids))).rowcount
        deleted += count
        if count < BATCH_ROWS:
            return deleted


def prune(engine: Engine, now_s: float, options: RetentionOptions, rolled_up_through_id: int | None) -> Pruned:
    """Delete what is past its retention; raw spans only up to ``rolled_up_through_id``, the rollup job's cursor.

    With ``rolled_up_through_id`` None (nothing rolled up yet) no span is pruned.
    """
    now = int(now_s)
    counts: dict[str, int] = {}
    if options.raw_spans_s is not None and rolled_up_through_id is not None:
        cutoff_ns = (now - options.raw_spans_s) * NANOS
        counts["spans"] = _delete_before(
            engine, SpanRow, SpanRow.start_unix_nano, cutoff_ns, SpanRow.id <= rolled_up_through_id
        )
        if counts["spans"]:
            # The rollup job must not recompute an interval from what is left of it: it counts late spans
            # for these intervals instead.
            with engine.begin() as connection:
                previous = read_cursor(connection, PRUNED_BEFORE) or 0
                write_cursor(connection, PRUNED_BEFORE, max(previous, now - options.raw_spans_s))
    if options.rollups_s is not None:
        cutoff_s = now - options.rollups_s
        counts["rollups"] = _delete_before(engine, SpanRollupRow, SpanRollupRow.bucket_start_unix_s, cutoff_s)
    if options.predictions_s is not None:
        cutoff_ns = (now - options.predictions_s) * NANOS
        counts["predictions"] = _delete_before(engine, PredictionRow, PredictionRow.ts_unix_nano, cutoff_ns)
        counts["outcomes"] = _delete_before(engine, OutcomeRow, OutcomeRow.ts_unix_nano, cutoff_ns)
    if options.findings_s is not None:
        cutoff_s = now - options.findings_s
        cutoff = datetime.fromtimestamp(cutoff_s, tz=UTC)
        counts["findings"] = _delete_before(engine, FindingRow, FindingRow.created_at, cutoff)
        counts["drift_summaries"] = _delete_before(
            engine, DriftSummaryRow, DriftSummaryRow.bucket_start_unix_s, cutoff_s
        )
        # The delivery log: only attempts that are over (sent, or given up); unsent ones are still work.
        counts["deliveries"] = _delete_before(
            engine,
            AlertDeliveryRow,
            AlertDeliveryRow.created_at,
            cutoff,
            AlertDeliveryRow.state.in_(FINISHED_DELIVERY_STATES),
        )
    return Pruned(**counts)
