"""References and per-interval drift summaries in the database.

A reference is fitted once, from a time range of recorded predictions (with the model's performance there,
when outcomes are known) or from a file of training data, and stored; setting it again replaces it, and the
interval summaries made on the old reference's bins go with it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.storage.base import utcnow
from collector.core.storage.tables import DriftReferenceRow, DriftSummaryRow
from collector.core.storage.upsert import insert_ignore
from detectors.drift.estimate import ConfidenceCalibration
from detectors.drift.files import read_table
from detectors.drift.performance import MIN_OUTCOMES, Performance, classification_performance, regression_performance
from detectors.drift.records import CONFIDENCE, PredictionColumns, load_outcomes, load_predictions
from detectors.drift.reference import FittedReference, WindowSummary
from detectors.drift.summaries import NumericSummary

logger = logging.getLogger(__name__)

DEFAULT_REFERENCE: Final = "default"
# Enough for quantile edges and PCA to be stable; a larger range is sampled evenly down to this.
DEFAULT_MAX_REFERENCE_ROWS: Final = 200_000


@dataclass(frozen=True)
class ReferenceInfo:
    """A stored reference, without its fitted body."""

    id: int
    model_name: str
    model_version: str
    name: str
    source: str
    range_start: datetime | None
    range_end: datetime | None
    source_path: str | None
    row_count: int
    features: tuple[str, ...]
    created_at: datetime


def _info(row: DriftReferenceRow) -> ReferenceInfo:
    return ReferenceInfo(
        row.id,
        row.model_name,
        row.model_version,
        row.name,
        row.source,
        row.range_start,
        row.range_end,
        row.source_path,
        row.row_count,
        tuple(str(item["name"]) for item in row.features),
        row.created_at,
    )


def _labelled(engine: Engine, columns: PredictionColumns) -> list[tuple[int, str | float]]:
    """Indices of the predictions that predicted something and have an outcome now, with the outcome."""
    outcomes = load_outcomes(engine, columns.prediction_ids)
    return [
        (index, outcomes[pid])
        for index, (pid, predicted) in enumerate(zip(columns.prediction_ids, columns.predicted, strict=True))
        if pid in outcomes and predicted is not None
    ]


def performance_of(engine: Engine, columns: PredictionColumns) -> Performance | None:
    """The model's performance on these predictions, from the outcomes known now; None below MIN_OUTCOMES."""
    return _performance(columns, _labelled(engine, columns))


def _performance(columns: PredictionColumns, labelled: list[tuple[int, str | float]]) -> Performance | None:
    if len(labelled) < MIN_OUTCOMES:
        return None
    predicted = [columns.predicted[index] for index, _ in labelled]
    actual = [outcome for _, outcome in labelled]
    if all(isinstance(p, float) for p in predicted) and all(isinstance(a, float) for a in actual):
        return regression_performance([float(p) for p in predicted if p is not None], [float(a) for a in actual])
    return classification_performance(
        [str(p) for p in predicted], [str(a) for a in actual], [columns.positives[index] for index, _ in labelled]
    )


def _calibration(
    fitted: FittedReference, columns: PredictionColumns, labelled: list[tuple[int, str | float]]
) -> ConfidenceCalibration | None:
    """Accuracy by confidence on the reference, for the label-free estimate; None without scores or outcomes."""
    summary = fitted.outputs.get(CONFIDENCE)
    confidence = columns.outputs.get(CONFIDENCE)
    if not isinstance(summary, NumericSummary) or confidence is None:
        return None
    pairs = [
        (float(value), columns.predicted[index] == outcome)
        for index, outcome in labelled
        if isinstance(value := confidence[index], float) and isinstance(outcome, str)
    ]
    if len(pairs) < MIN_OUTCOMES:
        return None
    return ConfidenceCalibration.fit(summary, [c for c, _ in pairs], [ok for _, ok in pairs])


def fit_from_range(
    engine: Engine,
    model_name: str,
    model_version: str,
    *,
    start: datetime,
    end: datetime,
    max_rows: int = DEFAULT_MAX_REFERENCE_ROWS,
) -> FittedReference:
    """Fit a reference on the version's predictions in ``[start, end)``; ValueError when there are none."""
    if end <= start:
        raise ValueError(f"the range must end after it starts, got {start.isoformat()} .. {end.isoformat()}")
    columns = load_predictions(engine, model_name, model_version, _nanos(start), _nanos(end), max_rows=max_rows)
    if columns.rows == 0:
        raise ValueError(
            f"no predictions of model {model_name!r} version {model_version!r} between "
            f"{start.isoformat()} and {end.isoformat()}"
        )
    if not columns.features:
        raise ValueError(f"the predictions of model {model_name!r} version {model_version!r} carry no features")
    labelled = _labelled(engine, columns)
    fitted = FittedReference.fit(columns.features, columns.outputs, performance=_performance(columns, labelled))
    return replace(fitted, calibration=_calibration(fitted, columns, labelled))


def fit_from_file(path: Path, categorical: Collection[str] = ()) -> FittedReference:
    """Fit a reference on a CSV or Parquet file of training data (its columns are the features)."""
    return FittedReference.fit(read_table(path), categorical=categorical)


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def save_reference(
    engine: Engine,
    model_name: str,
    model_version: str,
    fitted: FittedReference,
    *,
    name: str = DEFAULT_REFERENCE,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
    source_path: str | None = None,
) -> ReferenceInfo:
    """Store a fitted reference, replacing one of the same name (and the summaries made on its bins)."""
    with engine.begin() as connection:
        old = connection.execute(
            select(DriftReferenceRow.id).where(
                DriftReferenceRow.model_name == model_name,
                DriftReferenceRow.model_version == model_version,
                DriftReferenceRow.name == name,
            )
        ).scalar_one_or_none()
        if old is not None:
            # Explicitly, not by ON DELETE CASCADE: SQLite enforces foreign keys only when asked to.
            connection.execute(delete(DriftSummaryRow).where(DriftSummaryRow.reference_id == old))
            connection.execute(delete(DriftReferenceRow).where(DriftReferenceRow.id == old))
    row = DriftReferenceRow(
        model_name=model_name,
        model_version=model_version,
        name=name,
        source="file" if source_path is not None else "time_range",
        range_start=range_start,
        range_end=range_end,
        source_path=source_path,
        row_count=fitted.rows,
        features=fitted.feature_kinds(),
        fitted=fitted.to_bytes(),
    )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
    return _info(row)


def list_references(
    engine: Engine, model_name: str | None = None, model_version: str | None = None
) -> list[ReferenceInfo]:
    """Stored references, newest first."""
    query = select(DriftReferenceRow).order_by(DriftReferenceRow.created_at.desc(), DriftReferenceRow.id.desc())
    if model_name is not None:
        query = query.where(DriftReferenceRow.model_name == model_name)
    if model_version is not None:
        query = query.where(DriftReferenceRow.model_version == model_version)
    with Session(engine) as session:
        return [_info(row) for row in session.scalars(query)]


def load_active_references(engine: Engine) -> list[tuple[ReferenceInfo, FittedReference]]:
    """Every model version's default reference, fitted body included."""
    query = (
        select(DriftReferenceRow)
        .where(DriftReferenceRow.name == DEFAULT_REFERENCE)
        .order_by(DriftReferenceRow.model_name, DriftReferenceRow.model_version)
    )
    loaded = []
    with Session(engine) as session:
        for row in session.scalars(query):
            try:
                loaded.append((_info(row), FittedReference.from_bytes(row.fitted)))
            except ValueError:
                # One unreadable reference (written by another version, say) must not stop the others.
                logger.exception("drift reference of %s version %s cannot be read", row.model_name, row.model_version)
    return loaded


def numeric_features(engine: Engine) -> dict[tuple[str, str], frozenset[str]]:
    """Per (model, version), the features its default reference summarises as numbers (what ingest checks
    incoming values against)."""
    return {
        (info.model_name, info.model_version): frozenset(
            name for name, summary in fitted.features.items() if isinstance(summary, NumericSummary)
        )
        for info, fitted in load_active_references(engine)
    }


def load_summaries(
    engine: Engine, reference: FittedReference, reference_id: int, *, bucket_s: int, start_s: int, end_s: int
) -> dict[int, WindowSummary]:
    """The stored interval summaries of a reference with ``start_s <= bucket start < end_s``, by start."""
    query = select(DriftSummaryRow.bucket_start_unix_s, DriftSummaryRow.summary).where(
        DriftSummaryRow.reference_id == reference_id,
        DriftSummaryRow.bucket_s == bucket_s,
        DriftSummaryRow.bucket_start_unix_s >= start_s,
        DriftSummaryRow.bucket_start_unix_s < end_s,
    )
    with engine.connect() as connection:
        return {start: reference.window_from_json(blob) for start, blob in connection.execute(query)}


def save_summary(
    engine: Engine, reference_id: int, bucket_s: int, start_s: int, summary: WindowSummary, *, source_rows: int
) -> None:
    """Store one interval's summary of its ``source_rows`` predictions; a replica that stored it first wins
    (the two are equal)."""
    with engine.begin() as connection:
        connection.execute(
            insert_ignore(DriftSummaryRow, connection.dialect.name),
            [
                {
                    "reference_id": reference_id,
                    "bucket_s": bucket_s,
                    "bucket_start_unix_s": start_s,
                    "rows": summary.rows,
                    "source_rows": source_rows,
                    "summary": summary.to_json(),
                    "created_at": utcnow(),
                }
            ],
        )
