"""Recorded predictions as drift columns: features, flattened outputs, and outcomes, read from the store.

Outputs are flattened into columns the drift tests understand: a predicted label is the categorical
``output.label``, a regression value the numeric ``output.value``, class scores one numeric column per class
(``output.score.<label>``) plus the model's confidence, its highest score (``output.confidence``), and a vector
of values one per position (``output.values[i]``), both capped at ``MAX_OUTPUT_COLUMNS`` so a model with
thousands of classes does not become thousands of tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from collector.core.storage.tables import OutcomeRow, PredictionRow

MAX_OUTPUT_COLUMNS: Final = 20
CONFIDENCE: Final = "output.confidence"
_FETCH_CHUNK: Final = 5000

Cell = float | str | None


@dataclass(frozen=True)
class PredictionColumns:
    """Predictions of one model version in one time range, column by column, in time order."""

    features: dict[str, list[Cell]]
    outputs: dict[str, list[Cell]]
    prediction_ids: tuple[str, ...]
    # The label or value the model predicted, for joining with outcomes (None when it gave neither).
    predicted: tuple[str | float | None, ...]
    # Each row's positive class and its score, for ROC AUC on binary classifiers (None otherwise).
    positives: tuple[tuple[str, float] | None, ...]
    # How many predictions the range held: more than ``rows`` when they were sampled.
    in_range: int

    @property
    def rows(self) -> int:
        """How many predictions."""
        return len(self.prediction_ids)


def flatten_output(output: Any) -> dict[str, Cell]:
    """One prediction's stored output JSON as named cells (see the module docstring)."""
    if not isinstance(output, Mapping):
        return {}
    cells: dict[str, Cell] = {}
    if isinstance(output.get("label"), str):
        cells["output.label"] = output["label"]
    if _is_number(output.get("value")):
        cells["output.value"] = float(output["value"])
    scores, labels = output.get("scores"), output.get("labels")
    if isinstance(scores, list) and isinstance(labels, list):
        for label, score in list(zip(labels, scores, strict=False))[:MAX_OUTPUT_COLUMNS]:
            cells[f"output.score.{label}"] = float(score) if _is_number(score) else None
        finite = [float(score) for score in scores if _is_number(score)]
        if finite:
            cells[CONFIDENCE] = max(finite)
    values = output.get("values")
    if isinstance(values, list):
        for index, value in enumerate(values[:MAX_OUTPUT_COLUMNS]):
            cells[f"output.values[{index}]"] = float(value) if _is_number(value) else None
    return cells


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def predicted_of(output: Any) -> str | float | None:
    """The label (classifier) or value (regressor) a stored output predicted."""
    if not isinstance(output, Mapping):
        return None
    if isinstance(output.get("label"), str):
        return str(output["label"])
    if _is_number(output.get("value")):
        return float(output["value"])
    return None


def positive_of(output: Any) -> tuple[str, float] | None:
    """The second class and its score of a two-class output (the positive class in scikit-learn's order)."""
    if not isinstance(output, Mapping):
        return None
    scores, labels = output.get("scores"), output.get("labels")
    if not (isinstance(scores, list) and isinstance(labels, list)) or len(scores) != 2 or len(labels) != 2:
        return None
    if _is_number(scores[1]):
        return str(labels[1]), float(scores[1])
    return None


def actual_of(actual: Any) -> str | float | None:
    """An outcome's true label or value."""
    return predicted_of(actual)


def _columns(rows: Iterable[Mapping[str, Cell]], count: int) -> dict[str, list[Cell]]:
    """Dicts of cells as equal-length columns; a name a row lacks is missing in that row."""
    columns: dict[str, list[Cell]] = {}
    for index, row in enumerate(rows):
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * count
            column[index] = value
    return columns


def _cell(value: object) -> Cell:
    """A stored feature value as a cell: numbers as float, text as is, anything else missing."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return float(value)
    return None


def load_predictions(
    engine: Engine, model_name: str, model_version: str, start_ns: int, end_ns: int, *, max_rows: int | None = None
) -> PredictionColumns:
    """Predictions with ``start_ns <= ts < end_ns``; above ``max_rows`` an even, deterministic sample of them."""
    where = and_(
        PredictionRow.model_name == model_name,
        PredictionRow.model_version == model_version,
        PredictionRow.ts_unix_nano >= start_ns,
        PredictionRow.ts_unix_nano < end_ns,
    )
    total: int | None = None
    with engine.connect() as connection:
        if max_rows is not None:
            total = connection.execute(select(func.count()).select_from(PredictionRow).where(where)).scalar_one()
            stride = math.ceil(total / max_rows) if total > max_rows else 1
            if stride > 1:
                # Every stride-th row by id: spread over the whole range, the same sample every time.
                where = and_(where, PredictionRow.id % stride == 0)
        query = (
            select(PredictionRow.prediction_id, PredictionRow.features, PredictionRow.outputs)
            .where(where)
            .order_by(PredictionRow.ts_unix_nano, PredictionRow.id)
            .execution_options(yield_per=_FETCH_CHUNK)
        )
        records = connection.execute(query).all()
    ids = tuple(record.prediction_id for record in records)
    features = _columns(
        ({name: _cell(value) for name, value in (record.features or {}).items()} for record in records), len(ids)
    )
    outputs = _columns((flatten_output(record.outputs) for record in records), len(ids))
    return PredictionColumns(
        features,
        outputs,
        ids,
        tuple(predicted_of(record.outputs) for record in records),
        tuple(positive_of(record.outputs) for record in records),
        len(ids) if total is None else max(total, len(ids)),
    )


def load_outcomes(engine: Engine, prediction_ids: Iterable[str]) -> dict[str, str | float]:
    """The known true label or value of each prediction id that has one."""
    found: dict[str, str | float] = {}
    ids = list(prediction_ids)
    with engine.connect() as connection:
        # Chunked: SQLite caps bound parameters per statement.
        for first in range(0, len(ids), 500):
            query = select(OutcomeRow.prediction_id, OutcomeRow.actual).where(
                OutcomeRow.prediction_id.in_(ids[first : first + 500])
            )
            for prediction_id, actual in connection.execute(query):
                value = actual_of(actual)
                if value is not None:
                    found[prediction_id] = value
    return found
