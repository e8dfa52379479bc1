"""Hypothesis properties: symmetry, row-order invariance, and merge(summary(a), summary(b)) == summary(a + b)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.drift import CategoricalSummary, KSDrift, NumericSummary, summary_from_json
from detectors.drift.stats import js_distance, ks_and_wasserstein

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
samples = st.lists(floats, min_size=1, max_size=60)
labels = st.lists(st.sampled_from(["a", "b", "c", "d", "e", ""]), min_size=0, max_size=60)
FEW = settings(max_examples=40, deadline=None)


@FEW
@given(samples, samples)
def test_ks_and_wasserstein_are_symmetric(a: list[float], b: list[float]) -> None:
    """Swapping the samples changes neither D nor W1."""
    x, y = np.sort(np.array(a)), np.sort(np.array(b))
    d_xy, w_xy = ks_and_wasserstein(x, y)
    d_yx, w_yx = ks_and_wasserstein(y, x)
    assert d_xy == d_yx
    assert np.isclose(w_xy, w_yx, rtol=1e-9, atol=1e-6)


@FEW
@given(st.lists(st.integers(0, 50), min_size=3, max_size=3), st.lists(st.integers(0, 50), min_size=3, max_size=3))
def test_js_distance_is_symmetric_and_bounded(a: list[int], b: list[int]) -> None:
    """JS distance is symmetric and in [0, 1]."""
    x, y = np.array(a), np.array(b)
    assert js_distance(x, y) == js_distance(y, x)
    assert 0.0 <= js_distance(x, y) <= 1.0


@FEW
@given(st.lists(floats, min_size=40, max_size=80), st.randoms(use_true_random=False))
def test_score_is_invariant_to_row_order(values: list[float], shuffler: object) -> None:
    """Shuffling the current rows gives the same report."""
    reference = {"x": np.linspace(-1e6, 1e6, 50)}
    shuffled = list(values)
    shuffler.shuffle(shuffled)  # type: ignore[attr-defined]
    detector = KSDrift(min_count=10, workers=1).fit(reference)
    assert detector.score({"x": values}).to_dict() == detector.score({"x": shuffled}).to_dict()


@FEW
@given(samples, samples, st.lists(floats, min_size=5, max_size=40))
def test_numeric_merge_equals_summary_of_concatenation(a: list[float], b: list[float], ref: list[float]) -> None:
    """Bin counts and missing counts of merged summaries equal those of the concatenated data."""
    template = NumericSummary.fit(ref, n_bins=8)
    merged = template.summarise([*a, float("nan")]).merge(template.summarise(b))
    whole = template.summarise(a + b + [float("nan")])
    assert merged.counts == whole.counts
    assert merged.missing == whole.missing == 1
    assert np.isclose(merged.total, whole.total, rtol=1e-9, atol=1e-3)
    assert summary_from_json(merged.to_json()) == merged


@FEW
@given(labels, labels)
def test_categorical_merge_equals_summary_of_concatenation(a: list[str], b: list[str]) -> None:
    """Within capacity, merging categorical summaries is exact and order does not matter."""
    left, right = CategoricalSummary.from_values(a), CategoricalSummary.from_values(b)
    whole = CategoricalSummary.from_values(a + b)
    assert left.merge(right) == whole == right.merge(left)
    assert summary_from_json(whole.to_json()) == whole


@FEW
@given(labels, labels)
def test_capped_merge_keeps_every_count(a: list[str], b: list[str]) -> None:
    """Past capacity, categories fold into other but no count is lost."""
    left = CategoricalSummary.from_values(a, capacity=2)
    right = CategoricalSummary.from_values(b, capacity=2)
    merged = left.merge(right)
    assert len(merged.counts) <= 2
    assert merged.count == CategoricalSummary.from_values(a + b).count
