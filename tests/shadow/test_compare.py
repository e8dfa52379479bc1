"""Comparison statistics: known answers, coverage under fixed seeds, output interpretation."""

from __future__ import annotations

import numpy as np
import pytest

from shadow.compare import (
    bootstrap_mean_bounds,
    clopper_pearson_lower,
    compare_outputs,
    infer_task,
    newcombe_paired_difference,
    probability_stats,
    wilson_interval,
    wilson_lower,
)


def test_wilson_two_sided_990_of_1000_matches_textbook() -> None:
    """Wilson 95% interval for 990/1000 is (0.9817, 0.9946), as published calculators give."""
    low, high = wilson_interval(990, 1000, 1.959963984540054)
    assert low == pytest.approx(0.9817, abs=5e-5)
    assert high == pytest.approx(0.9946, abs=5e-5)


def test_zero_disagreement_sample_sizes_match_the_research_note() -> None:
    """One-sided 95% bound >= 0.99 with no disagreement needs n=268 (Wilson) and n=299 (Clopper-Pearson)."""
    assert wilson_lower(268, 268) >= 0.99 > wilson_lower(267, 267)
    assert clopper_pearson_lower(299, 299) >= 0.99 > clopper_pearson_lower(298, 298)
    assert clopper_pearson_lower(299, 299) == pytest.approx(0.05 ** (1 / 299))


def test_newcombe_bounds_contain_the_estimate_and_narrow_with_n() -> None:
    """The paired-difference bounds bracket (b - c) / n and shrink as the sample grows."""
    low, high = newcombe_paired_difference(80, 6, 2, 12)
    assert low < (6 - 2) / 100 < high
    low_big, high_big = newcombe_paired_difference(800, 60, 20, 120)
    assert high_big - low_big < high - low


def test_newcombe_upper_bound_covers_at_the_nominal_rate() -> None:
    """Under a fixed seed the one-sided 95% upper bound covers the true loss in about 95% of samples."""
    rng = np.random.default_rng(1)
    truth = 0.02  # b prob 0.03, c prob 0.01
    covered = 0
    trials = 1000
    for _ in range(trials):
        a, b, c, d = rng.multinomial(300, [0.85, 0.03, 0.01, 0.11])
        covered += newcombe_paired_difference(int(a), int(b), int(c), int(d))[1] >= truth
    assert 0.92 <= covered / trials <= 0.99


def test_bootstrap_bounds_bracket_the_mean() -> None:
    """Seeded bootstrap bounds sit either side of the sample mean."""
    values = np.random.default_rng(0).exponential(size=500)
    low, high = bootstrap_mean_bounds(values)
    assert low < values.mean() < high


def test_probability_stats_known_answer() -> None:
    """Max |dp| and KL for a hand-computed pair of distributions."""
    p = np.array([[0.5, 0.5]])
    q = np.array([[0.25, 0.75]])
    stats = probability_stats(p, q)
    assert stats.max_abs_diff == pytest.approx(0.25)
    assert stats.mean_kl == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75))


def test_mean_kl_is_never_negative() -> None:
    """A float16 softmax whose rows sum to 1.002, and probabilities under the clipping floor: KL stays >= 0."""
    p = np.array([[0.5, 0.5], [1e-9, 1.0 - 1e-9]], dtype=np.float32)
    q = np.array([[0.501, 0.501], [0.0, 1.0]], dtype=np.float32)
    assert probability_stats(p, q).mean_kl >= 0.0
    assert probability_stats(q, q).mean_kl == 0.0


def test_classifier_outputs_give_agreement_and_accuracy() -> None:
    """Label outputs are compared as text against outcomes; probabilities feed the divergence stats."""
    base = {"label": np.array([0, 1, 1, 2]), "probabilities": np.eye(3, dtype=np.float32)[[0, 1, 1, 2]]}
    var = {"label": np.array([0, 1, 2, 2]), "probabilities": np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]}
    assert infer_task(base) == "classification"
    comparison = compare_outputs("classification", base, var, ["0", "1", "1", None], confidence=0.95)
    assert comparison.agreement is not None
    assert comparison.agreement.agree == 3
    assert comparison.accuracy is not None
    assert comparison.accuracy.n == 3
    assert comparison.accuracy.flips_lost == 1
    assert comparison.probabilities is not None
    assert comparison.probabilities.max_abs_diff == 1.0


def test_regression_outputs_give_mae_with_bounds() -> None:
    """A float-only output is a regression; MAE against the baseline is bracketed by its bounds."""
    base = {"variable": np.linspace(0, 10, 200, dtype=np.float32).reshape(-1, 1)}
    var = {"variable": base["variable"] + np.float32(0.1)}
    assert infer_task(base) == "regression"
    comparison = compare_outputs("regression", base, var, [None] * 200, confidence=0.95)
    assert comparison.regression is not None
    assert comparison.regression.mae_lower <= comparison.regression.mae <= comparison.regression.mae_upper
    assert comparison.regression.mae == pytest.approx(0.1, rel=1e-3)
