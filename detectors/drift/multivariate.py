"""Multivariate drift: PCA reconstruction error, which catches a joint shift that every marginal misses.

Fit on the reference's numeric features, standardised by the reference's mean and standard deviation
(missing values imputed with the mean, so they add no error), keeping the fewest principal components that
explain ``variance`` of the variance. A row's reconstruction error is its squared distance from that
subspace. When the features' relations change (two features that moved together now move apart), rows leave
the subspace and the error grows, although each feature's own distribution is unchanged.

The reference's error distribution is measured on a held-out half of the reference (the half the components
were not fitted on): in-sample errors are biased low, and comparing a window with them would flag drift
where there is none. Windows are then compared with that distribution through a ``NumericSummary`` over its
quantiles, so the test merges across windows like every other feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from detectors.drift.columns import ColumnLike

FloatMatrix = npt.NDArray[np.float64]

DEFAULT_VARIANCE: Final = 0.9
MIN_FEATURES: Final = 2
MIN_ROWS: Final = 100


@dataclass(frozen=True)
class PCAReconstruction:
    """A fitted PCA subspace: the features it reads, their mean and scale, and its components (rows)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]

    @classmethod
    def fit(
        cls, columns: Mapping[str, ColumnLike], variance: float = DEFAULT_VARIANCE, min_rows: int = MIN_ROWS
    ) -> tuple[PCAReconstruction, FloatMatrix]:
        """Fit on half the rows; returns the model and the held-out half (standardised later by ``errors``)."""
        if not 0.0 < variance < 1.0:
            raise ValueError(f"`variance` must be in (0, 1), got {variance}")
        names = tuple(columns)
        if len(names) < MIN_FEATURES:
            raise ValueError(f"PCA needs at least {MIN_FEATURES} numeric features, got {len(names)}")
        matrix = _matrix(columns, names)
        if matrix.shape[0] < min_rows:
            raise ValueError(f"PCA needs at least {min_rows} reference rows, got {matrix.shape[0]}")
        # Alternate rows, not the first half: a reference in time order may drift within itself.
        fit_rows, held_out = matrix[0::2], matrix[1::2]
        mean = np.nanmean(fit_rows, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        scale = np.nanstd(fit_rows, axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        standard = _standardise(fit_rows, mean, scale)
        _, singular, vt = np.linalg.svd(standard, full_matrices=False)
        explained = np.cumsum(singular**2) / max(float(np.sum(singular**2)), 1e-300)
        # At least one component, and always one fewer than the features: with all of them the error is 0.
        keep = min(max(int(np.searchsorted(explained, variance)) + 1, 1), len(names) - 1)
        model = cls(
            names,
            tuple(mean.tolist()),
            tuple(scale.tolist()),
            tuple(tuple(row) for row in vt[:keep].tolist()),
        )
        return model, held_out

    def errors(self, columns: Mapping[str, ColumnLike]) -> FloatMatrix:
        """Each row's squared reconstruction error (features it lacks count as missing)."""
        return self.errors_of_matrix(_matrix(columns, self.features))

    def errors_of_matrix(self, matrix: FloatMatrix) -> FloatMatrix:
        """Squared reconstruction error of each row of a raw (unstandardised) matrix in ``features`` order."""
        standard = _standardise(matrix, np.asarray(self.mean), np.asarray(self.scale))
        components = np.asarray(self.components, dtype=np.float64)
        projected = standard @ components.T @ components
        return np.asarray(np.sum((standard - projected) ** 2, axis=1), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "components": [list(row) for row in self.components],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PCAReconstruction:
        """Read what ``to_dict`` wrote."""
        return cls(
            tuple(str(name) for name in raw["features"]),
            tuple(float(x) for x in raw["mean"]),
            tuple(float(x) for x in raw["scale"]),
            tuple(tuple(float(x) for x in row) for row in raw["components"]),
        )


def _matrix(columns: Mapping[str, ColumnLike], names: Sequence[str]) -> FloatMatrix:
    """Columns as a rows x features float matrix; missing features and values are NaN."""
    lengths = {len(column) for column in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    rows = lengths.pop() if lengths else 0
    matrix = np.full((rows, len(names)), np.nan)
    for j, name in enumerate(names):
        if name in columns:
            matrix[:, j] = _floats(columns[name])
    return matrix


def _floats(values: ColumnLike) -> FloatMatrix:
    """A column in row order as floats; anything that is not a finite number is NaN (missing)."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        floats = array.astype(np.float64)
    else:
        floats = np.array(
            [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan for v in array.tolist()],
            dtype=np.float64,
        )
    return np.where(np.isfinite(floats), floats, np.nan)


def _standardise(matrix: FloatMatrix, mean: FloatMatrix, scale: FloatMatrix) -> FloatMatrix:
    standard = (matrix - mean) / scale
    # A missing value sits at the mean: it adds nothing to the error instead of poisoning the row.
    return np.where(np.isfinite(standard), standard, 0.0)
