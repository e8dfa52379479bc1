"""A fitted reference: what drift is measured against, fitted once and stored, never recomputed per window.

It holds, per input feature and per flattened output, a summary of the reference (numeric: counts over 100
of its quantiles; categorical: category counts), the PCA subspace and held-out reconstruction errors for the
multivariate test, and, where outcomes were known, the model's performance on the reference and its accuracy
by confidence (for the label-free estimate). A window is
summarised on the reference's own bins (``summarise``), so windows merge and the detector never touches the
reference's rows again.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import orjson

from detectors.drift.columns import MAX_DISCRETE_VALUES, ColumnLike, Table, distinct_sorted, is_numeric, numeric_column
from detectors.drift.estimate import ConfidenceCalibration
from detectors.drift.multivariate import MIN_FEATURES, MIN_ROWS, PCAReconstruction
from detectors.drift.performance import Performance
from detectors.drift.summaries import CategoricalSummary, NumericSummary, Summary, summary_from_json

SCHEMA: Final = "inferwatch.reference/v1"


def _categorical_cells(values: ColumnLike) -> list[str | None]:
    """Values as category names; whole floats print as integers so 1.0 and 1 are one category."""
    cells: list[str | None] = []
    for value in np.asarray(values, dtype=object).tolist():
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            cells.append(None)
        elif isinstance(value, float) and value.is_integer():
            cells.append(str(int(value)))
        elif isinstance(value, bool):
            cells.append(str(value).lower())
        else:
            cells.append(str(value))
    return cells


def _numeric_cells(values: ColumnLike) -> list[float | None]:
    """Values as numbers; text in a numeric feature (a schema change) is missing, so the missing rate shows it."""
    array = np.asarray(values, dtype=object).tolist()
    return [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in array]


def _is_numeric_feature(values: ColumnLike, name: str, categorical: Collection[str]) -> bool:
    """Numbers with more than ``MAX_DISCRETE_VALUES`` distinct values, unless named categorical."""
    if name in categorical or not is_numeric(values):
        return False
    return distinct_sorted(numeric_column(values, name).values) > MAX_DISCRETE_VALUES


@dataclass(frozen=True)
class WindowSummary:
    """A window's predictions summarised on a reference's bins; merges by adding."""

    rows: int
    features: Mapping[str, Summary]
    outputs: Mapping[str, Summary]
    reconstruction: NumericSummary | None = None

    def merge(self, other: WindowSummary) -> WindowSummary:
        """Both windows together; they must come from the same reference."""
        reconstruction = self.reconstruction
        if reconstruction is not None and other.reconstruction is not None:
            reconstruction = reconstruction.merge(other.reconstruction)
        return WindowSummary(
            self.rows + other.rows,
            _merge_maps(self.features, other.features),
            _merge_maps(self.outputs, other.outputs),
            reconstruction,
        )

    def to_json(self) -> bytes:
        """Compact JSON for the database: counts only; the bins are the reference's and are not repeated."""
        return orjson.dumps(
            {
                "rows": self.rows,
                "features": {name: _counts(s) for name, s in self.features.items()},
                "outputs": {name: _counts(s) for name, s in self.outputs.items()},
                "reconstruction": _counts(self.reconstruction) if self.reconstruction else None,
            }
        )


def _counts(summary: Summary) -> dict[str, Any]:
    """A summary without what its reference already holds (numeric edges)."""
    raw = summary.to_dict()
    raw.pop("edges", None)
    return raw


def _with_edges(raw: Mapping[str, Any], like: Summary) -> Summary:
    """A summary stored by ``_counts``, with the edges of the reference summary it was made on."""
    if isinstance(like, NumericSummary):
        return summary_from_json(orjson.dumps({**raw, "edges": list(like.edges)}))
    return summary_from_json(orjson.dumps(raw))


def _merge_maps(a: Mapping[str, Summary], b: Mapping[str, Summary]) -> dict[str, Summary]:
    merged = dict(a)
    for name, summary in b.items():
        mine = merged.get(name)
        merged[name] = summary if mine is None else _merge_summary(name, mine, summary)
    return merged


def _merge_summary(name: str, a: Summary, b: Summary) -> Summary:
    if isinstance(a, NumericSummary) and isinstance(b, NumericSummary):
        return a.merge(b)
    if isinstance(a, CategoricalSummary) and isinstance(b, CategoricalSummary):
        return a.merge(b)
    raise ValueError(f"feature `{name}`: cannot merge a numeric and a categorical summary")


def _read_map(raw: Mapping[str, Any]) -> dict[str, Summary]:
    return {str(name): summary_from_json(orjson.dumps(value)) for name, value in raw.items()}


def _as_numeric(summary: Summary) -> NumericSummary:
    if not isinstance(summary, NumericSummary):
        raise ValueError("the reconstruction-error summary must be numeric")
    return summary


def _fit_summaries(table: Table, categorical: Collection[str]) -> dict[str, Summary]:
    fitted: dict[str, Summary] = {}
    for name, values in table.items():
        if _is_numeric_feature(values, name, categorical):
            fitted[name] = NumericSummary.fit(_numeric_cells(values), name=name)
        else:
            fitted[name] = CategoricalSummary.from_values(_categorical_cells(values), name=name)
    return fitted


def _summarise_like(reference: Mapping[str, Summary], table: Table, rows: int) -> dict[str, Summary]:
    summaries: dict[str, Summary] = {}
    for name, fitted in reference.items():
        values: ColumnLike = table.get(name, [None] * rows)
        if isinstance(fitted, NumericSummary):
            summaries[name] = fitted.summarise(_numeric_cells(values), name)
        else:
            summaries[name] = CategoricalSummary.from_values(_categorical_cells(values), fitted.capacity, name)
    return summaries


@dataclass(frozen=True)
class FittedReference:
    """Summaries of a reference's features and outputs, its PCA model, and its performance."""

    rows: int
    features: Mapping[str, Summary]
    outputs: Mapping[str, Summary] = field(default_factory=dict)
    pca: PCAReconstruction | None = None
    reconstruction: NumericSummary | None = None
    performance: Performance | None = None
    calibration: ConfidenceCalibration | None = None

    @classmethod
    def fit(
        cls,
        features: Table,
        outputs: Table | None = None,
        *,
        categorical: Collection[str] = (),
        performance: Performance | None = None,
    ) -> FittedReference:
        """Fit every summary, and the PCA test when there are enough numeric features and rows."""
        if not features:
            raise ValueError("a reference needs at least one feature")
        rows = {len(values) for values in features.values()}
        if len(rows) != 1:
            raise ValueError(f"reference columns have different lengths: {sorted(rows)}")
        count = rows.pop()
        if count == 0:
            raise ValueError("a reference needs at least one row")
        fitted = _fit_summaries(features, categorical)
        numeric = {name: features[name] for name, s in fitted.items() if isinstance(s, NumericSummary)}
        pca, reconstruction = None, None
        if len(numeric) >= MIN_FEATURES and count >= MIN_ROWS:
            pca, held_out = PCAReconstruction.fit(numeric)
            reconstruction = NumericSummary.fit(pca.errors_of_matrix(held_out), name="reconstruction_error")
        return cls(count, fitted, _fit_summaries(outputs or {}, ()), pca, reconstruction, performance)

    def summarise(self, features: Table, outputs: Table | None, rows: int) -> WindowSummary:
        """A window of ``rows`` predictions on this reference's bins; absent columns count as missing."""
        reconstruction = None
        if self.pca is not None and self.reconstruction is not None and rows:
            errors = self.pca.errors({name: features.get(name, [None] * rows) for name in self.pca.features})
            reconstruction = self.reconstruction.summarise(errors, "reconstruction_error")
        elif self.reconstruction is not None:
            reconstruction = self.reconstruction.empty()
        return WindowSummary(
            rows,
            _summarise_like(self.features, features, rows),
            _summarise_like(self.outputs, outputs or {}, rows),
            reconstruction,
        )

    def window_from_json(self, data: bytes) -> WindowSummary:
        """Read a window summary stored by ``WindowSummary.to_json`` on this reference's bins."""
        raw = orjson.loads(data)
        stored = raw.get("reconstruction")
        reconstruction = None
        if stored is not None and self.reconstruction is not None:
            reconstruction = _as_numeric(_with_edges(stored, self.reconstruction))
        return WindowSummary(
            int(raw["rows"]),
            {name: _with_edges(raw["features"][name], like) for name, like in self.features.items()},
            {name: _with_edges(raw["outputs"][name], like) for name, like in self.outputs.items()},
            reconstruction,
        )

    def feature_kinds(self) -> list[dict[str, str]]:
        """Each feature and output with its kind, in order, for listing."""
        return [
            {"name": name, "kind": "numeric" if isinstance(summary, NumericSummary) else "categorical"}
            for name, summary in (*self.features.items(), *self.outputs.items())
        ]

    def to_bytes(self) -> bytes:
        """The stored form: JSON, so it can be read (and audited) without inferwatch."""
        return orjson.dumps(
            {
                "schema": SCHEMA,
                "rows": self.rows,
                "features": {name: s.to_dict() for name, s in self.features.items()},
                "outputs": {name: s.to_dict() for name, s in self.outputs.items()},
                "pca": self.pca.to_dict() if self.pca else None,
                "reconstruction": self.reconstruction.to_dict() if self.reconstruction else None,
                "performance": self.performance.to_dict() if self.performance else None,
                "calibration": self.calibration.to_dict() if self.calibration else None,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FittedReference:
        """Read what ``to_bytes`` wrote; a ValueError for anything else."""
        try:
            raw = orjson.loads(data)
            if raw.get("schema") != SCHEMA:
                raise ValueError(f"expected schema {SCHEMA}, got {raw.get('schema')!r}")
            reconstruction = raw.get("reconstruction")
            return cls(
                int(raw["rows"]),
                _read_map(raw["features"]),
                _read_map(raw["outputs"]),
                PCAReconstruction.from_dict(raw["pca"]) if raw.get("pca") else None,
                _as_numeric(summary_from_json(orjson.dumps(reconstruction))) if reconstruction else None,
                Performance.from_dict(raw["performance"]) if raw.get("performance") else None,
                ConfidenceCalibration.from_dict(raw["calibration"]) if raw.get("calibration") else None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a fitted reference: {error}") from None
