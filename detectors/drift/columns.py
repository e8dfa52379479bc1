"""Turning user columns into what the statistics need: sorted finite floats, or category counts.

A column is any sequence or 1-D array. ``None``, ``NaN`` and (for categories) the empty string are missing;
missing values never reach a distribution test and are counted for the missing-rate signal instead.
Infinite numbers are kept (they are values, and a sorted array handles them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from detectors.drift.stats import FloatArray, IntArray

ColumnLike: TypeAlias = Sequence[Any] | npt.NDArray[Any]
Table: TypeAlias = Mapping[str, ColumnLike]
# A numeric column with at most this many distinct reference values is tested as categorical (as Evidently does).
MAX_DISCRETE_VALUES: Final = 5
# A text column whose reference values are at least this share distinct is an identifier: a chi-square over
# values that each occur once has nothing to compare, so its distribution is not tested unless configured.
IDENTIFIER_DISTINCT_SHARE: Final = 0.95
# How a column was typed, reported with every feature so a reader knows why it got the test it got.
Typing: TypeAlias = Literal["numeric", "numeric_text", "discrete", "categorical", "identifier"]


@dataclass(frozen=True)
class NumericColumn:
    """Finite-or-infinite values, sorted, with how many were missing."""

    values: FloatArray
    missing: int

    @property
    def total(self) -> int:
        """Rows including missing ones."""
        return int(self.values.size) + self.missing


@dataclass(frozen=True)
class CategoricalColumn:
    """Distinct non-missing values (as text) with their counts, and how many were missing."""

    categories: tuple[str, ...]
    counts: IntArray
    missing: int

    @property
    def total(self) -> int:
        """Rows including missing ones."""
        return int(self.counts.sum()) + self.missing

    def as_dict(self) -> dict[str, int]:
        """Category -> count."""
        return dict(zip(self.categories, self.counts.tolist(), strict=True))


def is_numeric(values: ColumnLike) -> bool:
    """Whether a column holds numbers (bools and text are categorical)."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return True
    if array.dtype.kind != "O":
        return False
    present = [v for v in array.tolist() if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)


def numeric_column(values: ColumnLike, name: str) -> NumericColumn:
    """Sorted non-missing floats; raises ``ValueError`` naming the column when a value is not a number."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column `{name}` must be one-dimensional, got shape {array.shape}")
    try:
        floats = array.astype(np.float64, copy=False) if array.dtype.kind != "O" else _object_to_float(array)
    except (TypeError, ValueError) as error:
        raise ValueError(f"column `{name}` is numeric in the reference but holds a non-number: {error}") from None
    missing = np.isnan(floats)
    if missing.any():
        present = floats[~missing]  # a copy, so sorting it in place leaves the caller's array alone
        present.sort()
    else:
        present = np.sort(floats)  # one copy, sorted: the sort a side needs, and no more
    return NumericColumn(present, int(floats.size - present.size))


def _object_to_float(array: npt.NDArray[Any]) -> FloatArray:
    """Object array with None (or '', for numbers stored as text) for missing -> float array with NaN."""
    return np.array([np.nan if v is None or v == "" else float(v) for v in array.tolist()], dtype=np.float64)


def text_as_numbers(values: ColumnLike) -> FloatArray | None:
    """A text column whose every present value reads as a number, as floats (NaN for missing); else None.

    Amounts and measurements often arrive as text (a CSV column with one stray quote, a JSON string field):
    tested as categories, each distinct amount would be its own cell and the test would see nothing.
    """
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "OU":
        return None
    items = array.tolist()
    present = [v for v in items if not _is_missing(v)]
    if not present or not all(isinstance(v, str) for v in present):
        return None
    try:
        parsed = np.array(present, dtype=str).astype(np.float64)
    except ValueError:
        return None
    if not np.isfinite(parsed).any():
        return None  # "nan" and "inf" alone are words here, not measurements
    floats = np.full(len(items), np.nan)
    floats[[not _is_missing(v) for v in items]] = parsed
    return floats


def looks_like_identifier(distinct: int, present: int, min_count: int) -> bool:
    """Nearly every value distinct, over enough values for that to mean something."""
    return present >= min_count and distinct >= IDENTIFIER_DISTINCT_SHARE * present


def categorical_column(values: ColumnLike, name: str) -> CategoricalColumn:
    """Counts per distinct value, as text; None, NaN and '' are missing."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column `{name}` must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind == "f":
        missing_mask = np.isnan(array)
        text = _float_labels(array[~missing_mask])
    elif array.dtype.kind in "iub":
        missing_mask = np.zeros(array.size, dtype=bool)
        text = array.astype(str)
    else:
        items = array.tolist()
        missing_mask = np.fromiter((_is_missing(v) for v in items), dtype=bool, count=len(items))
        text = np.array([str(v) for v, gone in zip(items, missing_mask.tolist(), strict=True) if not gone], dtype=str)
    categories, counts = np.unique(text, return_counts=True)
    return CategoricalColumn(tuple(categories.tolist()), counts.astype(np.int64), int(missing_mask.sum()))


def _float_labels(values: FloatArray) -> npt.NDArray[np.str_]:
    """Whole floats print as integers, so 1.0 in one file and 1 in another are the same category."""
    whole = np.isfinite(values) & (values == np.round(values))
    labels = values.astype(str)
    labels[whole] = values[whole].astype(np.int64).astype(str)
    return labels


def _is_missing(value: Any) -> bool:
    """None, NaN and the empty string are missing values."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def distinct_sorted(values: FloatArray) -> int:
    """How many distinct values a sorted array holds."""
    return int(np.count_nonzero(values[1:] != values[:-1])) + 1 if values.size else 0
