"""A mergeable latency summary: counts in log-spaced buckets (the DDSketch layout, without collapsing).

Bucket ``i`` holds values in ``(gamma**(i-1), gamma**i]`` milliseconds, so every quantile it reports is within
``(gamma - 1) / (gamma + 1)`` relative error of a true sample value (1% for the default gamma of 1.02).
Merging is adding counts, so per-minute summaries combine into hours and days, and across replicas,
without keeping raw spans. With gamma 1.02, latencies from 1 microsecond to 1 hour need fewer than 1,100
buckets, and a real service touches a few dozen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import orjson

DEFAULT_GAMMA = 1.02
# Durations at or below this (ms) share one bucket: clocks do not resolve finer, and log(0) is undefined.
MIN_MS = 0.001


@dataclass(frozen=True)
class LatencySketch:
    """Counts per log bucket of latency in milliseconds."""

    counts: Mapping[int, int] = field(default_factory=dict)
    gamma: float = DEFAULT_GAMMA

    def __post_init__(self) -> None:
        if not self.gamma > 1.0:
            raise ValueError(f"`gamma` must be > 1, got {self.gamma}")

    @classmethod
    def from_durations_ms(cls, durations_ms: np.ndarray, gamma: float = DEFAULT_GAMMA) -> LatencySketch:
        """Summarise raw durations; NaN and negative values are ignored (a span cannot end before it starts)."""
        values = np.asarray(durations_ms, dtype=np.float64)
        values = values[np.isfinite(values) & (values >= 0)]
        if values.size == 0:
            return cls({}, gamma)
        buckets = np.ceil(np.log(np.maximum(values, MIN_MS)) / math.log(gamma)).astype(np.int64)
        keys, counts = np.unique(buckets, return_counts=True)
        return cls(dict(zip(keys.tolist(), counts.tolist(), strict=True)), gamma)

    @property
    def total(self) -> int:
        """How many values the sketch summarises."""
        return sum(self.counts.values())

    @classmethod
    def combined(cls, sketches: Iterable[LatencySketch]) -> LatencySketch | None:
        """One sketch of all of them, or None without any. Counts are added into one dict: ``merge`` copies
        its counts each time, and a 30-day page merges 43,200 one-minute sketches per key."""
        counts: dict[int, int] = {}
        gamma: float | None = None
        for sketch in sketches:
            if gamma is None:
                gamma = sketch.gamma
            elif sketch.gamma != gamma:
                raise ValueError(f"cannot merge sketches with different gamma ({gamma} and {sketch.gamma})")
            for bucket, count in sketch.counts.items():
                counts[bucket] = counts.get(bucket, 0) + count
        return cls(counts, gamma) if gamma is not None else None

    def merge(self, other: LatencySketch) -> LatencySketch:
        """The sketch of both inputs together."""
        if other.gamma != self.gamma:
            raise ValueError(f"cannot merge sketches with different gamma ({self.gamma} and {other.gamma})")
        merged = dict(self.counts)
        for bucket, count in other.counts.items():
            merged[bucket] = merged.get(bucket, 0) + count
        return LatencySketch(merged, self.gamma)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile in milliseconds (the bucket's geometric midpoint); NaN when empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"`q` must be in [0, 1], got {q}")
        total = self.total
        if total == 0:
            return math.nan
        rank = q * (total - 1)
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen > rank:
                return self._value(bucket)
        return self._value(max(self.counts))

    def count_above(self, threshold_ms: float) -> int:
        """Values above ``threshold_ms``, counting whole buckets above the threshold's bucket (latency SLIs)."""
        limit = math.ceil(math.log(max(threshold_ms, MIN_MS)) / math.log(self.gamma))
        return sum(count for bucket, count in self.counts.items() if bucket > limit)

    def _value(self, bucket: int) -> float:
        # The midpoint 2*g^i/(g+1) of (g^(i-1), g^i] is within (g-1)/(g+1) of every value in the bucket.
        return 2.0 * self.gamma**bucket / (self.gamma + 1.0)

    def to_bytes(self) -> bytes:
        """Compact serialised form for the rollup table."""
        return orjson.dumps({"g": self.gamma, "b": sorted(self.counts.items())})

    @classmethod
    def from_bytes(cls, data: bytes) -> LatencySketch:
        """The inverse of to_bytes."""
        document = orjson.loads(data)
        # dict() of the [bucket, count] pairs as orjson gives them: a pass decodes many thousands of these.
        return cls(dict(document["b"]), float(document["g"]))
