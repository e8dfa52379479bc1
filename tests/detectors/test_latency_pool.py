"""Pooling quiet intervals into latency points: known answers on small series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@given(
    st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=120),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=90),
)
def test_pooled_points_hold_the_minimum_and_never_overlap(
    counts: list[int], min_requests: int, pool_minutes: int
) -> None:
    """Whatever the traffic: each point has min_requests, lies in the range, and points are disjoint in order."""
    present = [(END - (len(counts) - i) * 60, count) for i, count in enumerate(counts) if count > 0]
    starts = np.array([start for start, _ in present], dtype=np.int64)
    requests = np.array([count for _, count in present], dtype=np.int64)
    sketches = {
        start: LatencySketch.from_durations_ms(np.full(count, 50.0)) for start, count in present if count < min_requests
    }
    points = pool_points(
        starts,
        requests,
        np.full(len(present), 50.0),
        sketches,
        end_s=END,
        interval_s=60,
        min_requests=min_requests,
        max_pool_s=pool_minutes * 60,
        quantile=0.95,
    )
    previous_end = END - len(counts) * 60
    for point in points:
        end = point.end_s if point.end_s is not None else point.start_s + 60
        assert point.requests >= min_requests
        assert previous_end <= point.start_s < end <= END
        assert end - point.start_s <= max(pool_minutes * 60, 60)
        previous_end = end
    busy = sum(count for _, count in present if count >= min_requests)
    assert sum(p.requests for p in points if p.end_s is None) == busy
