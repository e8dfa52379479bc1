"""Mood's spread test from the merged sample, and the Cauchy combination of a feature's tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from detectors.drift import KSDrift
from detectors.drift.detectors import MOOD_MAX_ROWS
from detectors.drift.stats import (
    cauchy_combination,
    ks_and_wasserstein,
    ks_wasserstein_and_mood,
    spread_p_value,
)

# Rounded to whole numbers, so most samples have ties, which Mood's test must average over.
samples = st.lists(st.integers(-20, 20).map(float) | st.floats(-1e3, 1e3), min_size=3, max_size=60)


@settings(max_examples=80, deadline=None)
@given(samples, samples)
def test_mood_p_value_is_scipys_with_ties(a: list[float], b: list[float]) -> None:
    """The p-value equals scipy's ``mood`` (ties averaged), KS and Wasserstein are unchanged, and sides swap."""
    left, right = np.sort(np.array(a)), np.sort(np.array(b))
    distance, wasserstein, p_value = ks_wasserstein_and_mood(left, right)
    assert (distance, wasserstein) == ks_and_wasserstein(left, right)
    with np.errstate(all="ignore"):
        expected = stats.mood(left, right).pvalue
    if np.isfinite(expected):
        assert p_value == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert ks_wasserstein_and_mood(right, left)[2] == pytest.approx(p_value, rel=1e-9, abs=1e-12)


def test_mood_p_value_holds_its_digits_at_a_million_rows() -> None:
    """A million rows a side with ties: the same p-value as scipy's ``mood`` to six digits."""
    rng = np.random.default_rng(3)
    left, right = np.sort(np.round(rng.normal(size=1_000_000), 2)), np.sort(np.round(rng.normal(size=999_000), 2))
    assert ks_wasserstein_and_mood(left, right)[2] == pytest.approx(stats.mood(left, right).pvalue, rel=1e-6)


def test_cauchy_combination_of_agreeing_tests_is_their_p_value() -> None:
    """Perfectly dependent tests give back their p-value: asking three times costs nothing."""
    for p_value in (1e-30, 1e-6, 0.01, 0.3, 0.9):
        assert cauchy_combination((p_value, p_value, p_value)) == pytest.approx(p_value, rel=1e-9)


def test_cauchy_combination_is_not_masked_by_a_p_value_of_one() -> None:
    """A pure location shift leaves a spread test at p = 1; the small KS p-value still leads (about 3 x it)."""
    assert cauchy_combination((1e-6, 1.0, 1.0)) <= 3.1e-6
    assert cauchy_combination((1.0, 1.0, 1.0)) > 0.9


def test_cauchy_combination_of_independent_uniform_p_values_holds_its_level() -> None:
    """20,000 triples of independent uniform p-values: the combination falls below 0.05 and 0.005 at those rates."""
    combined = np.array([cauchy_combination(row) for row in np.random.default_rng(7).random((20_000, 3))])
    assert np.mean(combined <= 0.05) == pytest.approx(0.05, abs=0.006)
    assert np.mean(combined <= 0.005) == pytest.approx(0.005, abs=0.002)


def test_mood_is_left_out_of_large_samples() -> None:
    """Above ``MOOD_MAX_ROWS`` values the spread p-value is Brown-Forsythe's alone (the speed floor)."""
    rng = np.random.default_rng(0)
    reference, current = rng.normal(size=MOOD_MAX_ROWS // 2 + 1), rng.normal(size=MOOD_MAX_ROWS // 2)
    spread = KSDrift(workers=1).fit({"x": reference}).score({"x": current}).feature("x").spread
    assert spread is not None
    assert spread.p_value == pytest.approx(spread_p_value(np.sort(reference), np.sort(current))[1], rel=1e-12)
