"""Mergeable per-window summaries: what the collector stores per (model, version, feature, window).

``NumericSummary`` counts values in fixed bins whose edges are quantiles of the reference (so every bin holds
about the same reference mass), with open bins below the first and above the last edge, a missing count, and
the sum and sum of squares (for the reference's scale). ``CategoricalSummary`` keeps counts of at most
``capacity`` categories and folds the rest into ``other``. Merging adds counts, so summaries combine across
windows and replicas and a detector's cost does not grow with raw traffic. Both serialise to JSON bytes.

Merging numeric summaries is exact: ``merge(summarise(a), summarise(b)) == summarise(a + b)`` for bins; the
float sums agree up to rounding. Categorical merges are exact while the distinct values fit in ``capacity``;
beyond it the least frequent categories move to ``other`` (ties by name), like a frequent-items sketch.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import orjson

from detectors.drift.columns import ColumnLike, categorical_column, numeric_column
from detectors.drift.stats import bin_counts, quantile_edges

DEFAULT_SUMMARY_BINS: Final = 100
DEFAULT_CAPACITY: Final = 1000


@dataclass(frozen=True)
class NumericSummary:
    """Counts in bins ``(-inf, e0), [e0, e1), ..., [e_last, inf)`` plus missing values and two moments."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    missing: int = 0
    total: float = 0.0
    total_squares: float = 0.0

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.edges) + 1:
            raise ValueError(
                f"`counts` must have len(edges) + 1 = {len(self.edges) + 1} entries, got {len(self.counts)}"
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("`edges` must be strictly increasing")

    @classmethod
    def fit(cls, reference: ColumnLike, n_bins: int = DEFAULT_SUMMARY_BINS, name: str = "reference") -> NumericSummary:
        """A reference summary whose edges are ``n_bins`` quantiles of the reference's finite values."""
        if n_bins < 2:
            raise ValueError(f"`n_bins` must be >= 2, got {n_bins}")
        column = numeric_column(reference, name)
        finite = column.values[np.isfinite(column.values)]
        edges = quantile_edges(finite, n_bins)
        return cls.with_edges(tuple(edges.tolist()), reference, name)

    @classmethod
    def with_edges(cls, edges: tuple[float, ...], values: ColumnLike, name: str = "current") -> NumericSummary:
        """Summarise ``values`` over given edges (a current window over the reference's edges)."""
        column = numeric_column(values, name)
        finite = column.values[np.isfinite(column.values)]
        counts = bin_counts(column.values, np.asarray(edges, dtype=np.float64))
        return cls(edges, tuple(counts.tolist()), column.missing, float(finite.sum()), float(np.dot(finite, finite)))

    def summarise(self, values: ColumnLike, name: str = "current") -> NumericSummary:
        """Summarise other values over this summary's edges."""
        return NumericSummary.with_edges(self.edges, values, name)

    def empty(self) -> NumericSummary:
        """A summary of nothing over the same edges (the identity of ``merge``)."""
        return NumericSummary(self.edges, (0,) * len(self.counts))

    @property
    def count(self) -> int:
        """Non-missing values summarised."""
        return sum(self.counts)

    @property
    def std(self) -> float:
        """Population standard deviation from the moments (finite values only)."""
        n = self.count
        if n == 0:
            return 0.0
        mean = self.total / n
        return float(np.sqrt(max(self.total_squares / n - mean * mean, 0.0)))

    def merge(self, other: NumericSummary) -> NumericSummary:
        """The summary of both inputs together; the edges must match."""
        if other.edges != self.edges:
            raise ValueError("cannot merge numeric summaries with different edges")
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return NumericSummary(
            self.edges,
            counts,
            self.missing + other.missing,
            self.total + other.total,
            self.total_squares + other.total_squares,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return {
            "type": "numeric",
            "edges": list(self.edges),
            "counts": list(self.counts),
            "missing": self.missing,
            "total": self.total,
            "total_squares": self.total_squares,
        }

    def to_json(self) -> bytes:
        """JSON bytes, for a summary column in the database."""
        return orjson.dumps(self.to_dict())


@dataclass(frozen=True)
class CategoricalSummary:
    """Counts of at most ``capacity`` categories; the rest in ``other``; missing values apart."""

    counts: Mapping[str, int] = field(default_factory=dict)
    other: int = 0
    missing: int = 0
    capacity: int = DEFAULT_CAPACITY

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"`capacity` must be >= 1, got {self.capacity}")
        if len(self.counts) > self.capacity:
            raise ValueError(f"`counts` holds {len(self.counts)} categories, more than `capacity` {self.capacity}")

    @classmethod
    def from_values(
        cls, values: ColumnLike, capacity: int = DEFAULT_CAPACITY, name: str = "values"
    ) -> CategoricalSummary:
        """Summarise raw values (as text; None, NaN and '' are missing)."""
        column = categorical_column(values, name)
        return _capped(column.as_dict(), 0, column.missing, capacity)

    @property
    def count(self) -> int:
        """Non-missing values summarised."""
        return sum(self.counts.values()) + self.other

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        """The summary of both inputs together, capped at the smaller capacity."""
        merged = dict(self.counts)
        for category, count in other.counts.items():
            merged[category] = merged.get(category, 0) + count
        capacity = min(self.capacity, other.capacity)
        return _capped(merged, self.other + other.other, self.missing + other.missing, capacity)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields; categories sorted so equal summaries give equal bytes."""
        return {
            "type": "categorical",
            "counts": dict(sorted(self.counts.items())),
            "other": self.other,
            "missing": self.missing,
            "capacity": self.capacity,
        }

    def to_json(self) -> bytes:
        """JSON bytes, for a summary column in the database."""
        return orjson.dumps(self.to_dict())


def _capped(counts: dict[str, int], other: int, missing: int, capacity: int) -> CategoricalSummary:
    """Keep the ``capacity`` most frequent categories (ties by name); fold the rest into ``other``."""
    if len(counts) <= capacity:
        return CategoricalSummary(counts, other, missing, capacity)
    kept = heapq.nsmallest(capacity, counts.items(), key=lambda item: (-item[1], item[0]))
    dropped = sum(counts.values()) - sum(count for _, count in kept)
    return CategoricalSummary(dict(kept), other + dropped, missing, capacity)


Summary = NumericSummary | CategoricalSummary


def summary_from_json(data: bytes | str) -> Summary:
    """Read a summary written by ``to_json``; raises ValueError on anything else."""
    try:
        raw = orjson.loads(data)
        if raw["type"] == "numeric":
            return NumericSummary(
                tuple(float(edge) for edge in raw["edges"]),
                tuple(int(count) for count in raw["counts"]),
                int(raw["missing"]),
                float(raw["total"]),
                float(raw["total_squares"]),
            )
        if raw["type"] == "categorical":
            counts = {str(key): int(value) for key, value in raw["counts"].items()}
            return CategoricalSummary(counts, int(raw["other"]), int(raw["missing"]), int(raw["capacity"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a drift summary: {error}") from None
    raise ValueError(f"not a drift summary: unknown type {raw.get('type')!r}")
