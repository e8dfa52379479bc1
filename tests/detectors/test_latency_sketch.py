"""The log-bucket latency summary: quantiles within its stated error, exact merges, thresholds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.latency_sketch import LatencySketch

durations = st.lists(st.floats(min_value=0.01, max_value=60_000, allow_nan=False), min_size=1, max_size=300)


def test_quantiles_are_within_relative_error() -> None:
    """p50/p95/p99 of a lognormal sample are within 1% (gamma 1.02) of the sample's own quantiles."""
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=4.0, sigma=0.6, size=20_000)
    sketch = LatencySketch.from_durations_ms(values)
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(values, q, method="lower"))
        assert abs(sketch.quantile(q) - exact) / exact < 0.0105


def test_bad_values_are_ignored_and_empty_is_nan() -> None:
    """NaN and negative durations are not counted; an empty sketch has no quantile."""
    sketch = LatencySketch.from_durations_ms(np.array([np.nan, -1.0, 5.0]))
    assert sketch.total == 1
    assert np.isnan(LatencySketch().quantile(0.5))


def test_count_above_threshold() -> None:
    """count_above counts whole buckets above the threshold's bucket."""
    sketch = LatencySketch.from_durations_ms(np.array([100.0] * 90 + [400.0] * 10))
    assert sketch.count_above(300.0) == 10
    assert sketch.count_above(50.0) == 100


@settings(max_examples=60, deadline=None)
@given(durations, durations)
def test_merge_equals_sketch_of_concatenation(a: list[float], b: list[float]) -> None:
    """merge(sketch(a), sketch(b)) is exactly sketch(a + b), in either order."""
    left = LatencySketch.from_durations_ms(np.array(a))
    right = LatencySketch.from_durations_ms(np.array(b))
    both = LatencySketch.from_durations_ms(np.array(a + b))
    assert left.merge(right) == both
    assert right.merge(left) == both


@settings(max_examples=40, deadline=None)
@given(durations)
def test_bytes_round_trip(values: list[float]) -> None:
    """to_bytes/from_bytes is lossless."""
    sketch = LatencySketch.from_durations_ms(np.array(values))
    assert LatencySketch.from_bytes(sketch.to_bytes()) == sketch
