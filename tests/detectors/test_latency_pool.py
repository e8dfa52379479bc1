"""Pooling quiet intervals into latency points: known answers on small series."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.latency_pool import pool_points
from detectors.latency_sketch import LatencySketch

END = 1_763_000_000 // 3600 * 3600


def pool(requests: list[int], *, max_pool_s: int = 3600, end: int = END) -> list[tuple[int, int, int | None]]:
    """(start offset from END, requests, end offset) of the points pooled from one-minute intervals ending at END."""
    starts = np.array([END - (len(requests) - i) * 60 for i in range(len(requests))], dtype=np.int64)
    counts = np.array(requests, dtype=np.int64)
    values = np.full(len(requests), 100.0)
    sketches = {
        int(start): LatencySketch.from_durations_ms(np.full(count, 100.0))
        for start, count in zip(starts, counts, strict=True)
        if count < 20
    }
    points = pool_points(
        starts,
        counts,
        values,
        sketches,
        end_s=end,
        interval_s=60,
        min_requests=20,
        max_pool_s=max_pool_s,
        quantile=0.95,
    )
    return [(p.start_s - END, p.requests, None if p.end_s is None else p.end_s - END) for p in points]


def test_quiet_minutes_pool_newest_first_until_the_minimum() -> None:
    """Eight minutes of 5 requests make two points of four minutes, the newest ending at the end."""
    assert pool([5] * 8) == [(-480, 20, -240), (-240, 20, 0)]


def test_a_busy_minute_stands_alone_and_a_short_run_after_it_says_nothing() -> None:
    """A busy minute keeps its own quantile; the three quiet minutes after it (15 requests) are no point."""
    assert pool([40, 5, 5, 5]) == [(-240, 40, None)]


def test_a_run_too_sparse_for_the_longest_pool_says_nothing() -> None:
    """Two requests a minute need ten minutes; with a five-minute limit nothing is pooled."""
    assert pool([2] * 20, max_pool_s=300) == []
    assert pool([2] * 20, max_pool_s=600) == [(-1200, 20, -600), (-600, 20, 0)]


def test_the_newest_pool_reaches_the_end_across_empty_minutes() -> None:
    """Minutes without traffic have no rollup; the newest pool still ends at the end of the range."""
    assert pool([10, 10], end=END + 180) == [(-120, 20, 180)]


def test_bad_arguments_are_named() -> None:
    """A pool shorter than one interval could never gather; the message names the argument."""
    with pytest.raises(ValueError, match="`max_pool_s` must be >= the interval"):
        pool([5], max_pool_s=30)
