"""The statistics agree with scipy and with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from detectors.drift.stats import (
    _weighted_coins_tail,
    adjust,
    binned_ks,
    chi_square_pooled,
    js_distance,
    ks_and_wasserstein,
    ks_p_value,
    psi,
    two_proportion_p_value,
    unseen_split_p_value,
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


def test_unseen_test_is_exact_when_few_values_could_be_unseen_but_each_brings_many_rows() -> None:
    """Three values seen 10 times each, q = 2/3: P(at least one wholly current) = 1 - (1 - (2/3)**10)**3.

    The normal law put this at about 1e-68: one unseen value of ten rows was an alarm however likely it was.
    """
    reference, current = np.array([0, 6, 4]), np.array([10, 4, 6])
    expected_share, p_value = unseen_split_p_value(reference, current)
    chance = (2 / 3) ** 10
    assert p_value == pytest.approx(1 - (1 - chance) ** 3, rel=1e-9)
    assert expected_share == pytest.approx(3 * 10 * chance / 20)


def test_unseen_tail_matches_simulation_on_both_of_its_paths() -> None:
    """Weighted coin sums (few heavy values, and many light ones through the FFT path) against 200,000 draws."""
    rng = np.random.default_rng(3)
    cases = [
        (np.array([2, 5, 9, 14]), np.array([30, 12, 6, 3]), 0.6),
        (np.array([1, 3]), np.array([500, 200]), 0.4),
    ]
    for weights, counts, q in cases:
        chances = q ** weights.astype(np.float64)
        draws = (rng.binomial(counts, chances, size=(200_000, weights.size)) * weights).sum(axis=1)
        for level in (0.9, 0.99):
            observed = int(np.quantile(draws, level)) + 1
            simulated = float(np.mean(draws >= observed))
            exact = _weighted_coins_tail(weights, counts, chances, observed)
            assert exact == pytest.approx(simulated, rel=0.1)


def test_unseen_test_on_a_million_new_ids_takes_the_normal_law_and_stays_quick() -> None:
    """A million singletons a side, all new: the count is Binomial(2M, 1/2), the normal law's case; p is about
    one half, as for any id column, and the exact path (seconds at this size) is not taken."""
    reference = np.concatenate((np.ones(1_000_000, dtype=np.int64), np.zeros(1_000_000, dtype=np.int64)))
    current = 1 - reference
    _, p_value = unseen_split_p_value(reference, current)
    assert 0.45 < p_value < 0.55
