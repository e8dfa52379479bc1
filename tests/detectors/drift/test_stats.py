"""The statistics agree with scipy and with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from detectors.drift.stats import (
    adjust,
    binned_ks,
    chi_square_pooled,
    js_distance,
    ks_and_wasserstein,
    ks_p_value,
    psi,
    two_proportion_p_value,
)


def test_ks_and_wasserstein_match_scipy_with_ties() -> None:
    """D and W1 equal scipy's on samples with ties and different sizes."""
    rng = np.random.default_rng(7)
    a = np.sort(np.round(rng.normal(size=3000), 1))
    b = np.sort(np.round(rng.normal(0.2, 1.3, size=2100), 1))
    distance, wasserstein = ks_and_wasserstein(a, b)
    assert distance == pytest.approx(stats.ks_2samp(a, b).statistic)
    assert wasserstein == pytest.approx(stats.wasserstein_distance(a, b))


def test_ks_p_value_matches_scipy_exact_and_asymptotic() -> None:
    """Small samples give scipy's exact p; large ones its asymptotic p within 1%."""
    rng = np.random.default_rng(8)
    small_a, small_b = np.sort(rng.normal(size=300)), np.sort(rng.normal(0.2, size=300))
    d_small, _ = ks_and_wasserstein(small_a, small_b)
    assert ks_p_value(d_small, small_a, small_b) == pytest.approx(stats.ks_2samp(small_a, small_b).pvalue)
    big_a, big_b = np.sort(rng.normal(size=20000)), np.sort(rng.normal(0.02, size=20000))
    d_big, _ = ks_and_wasserstein(big_a, big_b)
    expected = stats.ks_2samp(big_a, big_b, method="asymp").pvalue
    assert ks_p_value(d_big, big_a, big_b) == pytest.approx(expected, rel=0.01)


def test_chi_square_without_pooling_matches_scipy() -> None:
    """With no rare cells the pooled chi-square is scipy's contingency test (no continuity correction)."""
    ref, cur = np.array([100, 200, 300]), np.array([120, 180, 330])
    statistic, p_value = chi_square_pooled(ref, cur)
    expected = stats.chi2_contingency(np.vstack((ref, cur)), correction=False)
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)


def test_chi_square_pools_rare_cells() -> None:
    """Cells with expected count < 5 are pooled, so one stray category does not decide the test."""
    statistic, _ = chi_square_pooled(np.array([500, 500, 1, 0]), np.array([500, 500, 0, 1]))
    assert statistic == pytest.approx(0.0)


def test_identical_counts_give_zero_distances() -> None:
    """PSI, JS and binned KS of identical counts are zero."""
    counts = np.array([10, 20, 30, 0])
    assert psi(counts, counts) == 0.0
    assert js_distance(counts, counts) == 0.0
    assert binned_ks(counts, counts) == 0.0


def test_disjoint_counts_have_js_distance_one() -> None:
    """JS distance (base 2) of disjoint supports is 1."""
    assert js_distance(np.array([5, 0]), np.array([0, 5])) == pytest.approx(1.0)


def test_bh_adjustment_known_answer() -> None:
    """BH-adjusted p-values for a textbook example, and Bonferroni's."""
    p_values = np.array([0.01, 0.04, 0.03, 0.005])
    assert adjust(p_values, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(p_values, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])


def test_two_proportion_p_value() -> None:
    """No missing on either side has no test; a big change has a tiny p-value."""
    assert two_proportion_p_value(0, 100, 0, 100) is None
    p_value = two_proportion_p_value(0, 1000, 100, 1000)
    assert p_value is not None
    assert p_value < 1e-10
