"""Changes of spread: noise added to a few columns at ~100 rows a side, on bundled data; the spread test itself."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.utils import Bunch

from detectors.drift import KSDrift
from detectors.drift.stats import spread_p_value


@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer])
def test_noise_of_one_sd_on_three_columns_is_caught_at_a_hundred_rows(loader: Callable[[], Bunch]) -> None:
    """Gaussian noise of 1 sd on 3 columns, ~100 rows a side: caught in at least 17 of 20 splits (KS alone: ~3)."""
    data = loader().data
    caught = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(data))
        rows = min(100, len(data) // 2)
        reference, current = data[order[:rows]].copy(), data[order[rows : 2 * rows]].copy()
        for j in (0, 1, 2):
            current[:, j] += rng.normal(0, reference[:, j].std(), rows)
        detector = KSDrift(workers=1).fit({f"x{j}": reference[:, j] for j in range(data.shape[1])})
        report = detector.score({f"x{j}": current[:, j] for j in range(data.shape[1])})
        caught += report.dataset_drift
    assert caught >= 17


def test_a_wider_current_reports_its_spread_ratio() -> None:
    """Wine's alcohol spread 1.5 times around its median: a spread ratio of 1.5 with a small p-value."""
    alcohol = load_wine().data[:, 0]
    median = np.median(alcohol)
    feature = KSDrift(workers=1).fit({"a": alcohol}).score({"a": median + (alcohol - median) * 1.5}).feature("a")
    assert feature.spread is not None
    assert feature.spread.ratio == pytest.approx(1.5)
    assert feature.spread.p_value < 1e-3
    assert feature.drifted


samples = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=60)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_spread_test_is_brown_forsythe(a: list[float], b: list[float]) -> None:
    """The p-value equals scipy's Levene test centred on the median, and swapping the sides keeps it."""
    left, right = np.sort(np.array(a)), np.sort(np.array(b))
    _, p_value = spread_p_value(left, right)
    with np.errstate(all="ignore"):
        expected = stats.levene(left, right, center="median").pvalue
    if np.isfinite(expected):
        assert p_value == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert spread_p_value(right, left)[1] == pytest.approx(p_value, rel=1e-9, abs=1e-12)
