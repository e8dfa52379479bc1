"""Pooling quiet intervals: consecutive rollup intervals with too few requests merged into one latency point.

A quantile of five requests says little, so the detector wants ``min_requests`` per point. A busy interval
is a point on its own (its stored quantile is used as is); a run of quiet intervals is merged, newest first,
until it holds ``min_requests``, by adding their latency summaries (quantiles do not add). Pooling runs
backwards from the end of the evaluated range, so the newest point always ends at the end of the last full
interval, and a model at a few hundred requests an hour gets a verdict every few minutes. A run that cannot
gather enough requests within ``max_pool_s`` says nothing; nor do quiet intervals next to a busy one, which
stands alone so that its own quantile is not diluted.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from detectors.latency import LatencyPoint
from detectors.latency_sketch import LatencySketch


def needs_pooling(requests: np.ndarray, min_requests: int) -> bool:
    """Whether any interval of a series is too quiet to be a point on its own."""
    return bool((requests < min_requests).any())


def pool_points(
    start_s: np.ndarray,
    requests: np.ndarray,
    value_ms: np.ndarray,
    sketches: Mapping[int, LatencySketch],
    *,
    end_s: int,
    interval_s: int,
    min_requests: int,
    max_pool_s: int,
    quantile: float,
) -> list[LatencyPoint]:
    """Points in time order: busy intervals as they are, quiet runs merged until ``min_requests``.

    ``sketches`` maps the start of each quiet interval (fewer than ``min_requests``) to its latency summary;
    a quiet interval without one is left out. ``end_s``: the end of the range, where the newest pool ends.
    """
    if min_requests < 1:
        raise ValueError(f"`min_requests` must be >= 1, got {min_requests}")
    if max_pool_s < interval_s:
        raise ValueError(f"`max_pool_s` must be >= the interval ({interval_s} s), got {max_pool_s}")
    newest_first: list[LatencyPoint] = []
    pool_end = end_s
    pooled_requests = 0
    pooled: LatencySketch | None = None
    for index in range(start_s.size - 1, -1, -1):
        start, count = int(start_s[index]), int(requests[index])
        if count >= min_requests:
            # A busy interval stands alone; the quiet run after it (if any) was too small and says nothing.
            newest_first.append(LatencyPoint(start, count, float(value_ms[index])))
            pool_end, pooled_requests, pooled = start, 0, None
            continue
        sketch = sketches.get(start)
        if sketch is None or count <= 0:
            continue
        if pool_end - start > max_pool_s:
            # Too sparse to gather enough within the longest pool: what was gathered says nothing.
            pool_end, pooled_requests, pooled = start + interval_s, 0, None
        pooled_requests += count
        pooled = sketch if pooled is None else pooled.merge(sketch)
        if pooled_requests >= min_requests:
            newest_first.append(LatencyPoint(start, pooled_requests, pooled.quantile(quantile), end_s=pool_end))
            pool_end, pooled_requests, pooled = start, 0, None
    newest_first.reverse()
    return newest_first
