"""Known-answer tests for the batch drift detectors under fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from collector.core.errors import NotFittedError
from detectors.drift import JensenShannonDrift, KSDrift, PSIDrift, WassersteinDrift
from detectors.drift.base import DriftDetector

SEED = 20240501


def normal_table(rng: np.random.Generator, rows: int, features: int = 5) -> dict[str, np.ndarray]:
    """Independent standard-normal columns f0..f{features-1}."""
    return {f"f{i}": rng.normal(size=rows) for i in range(features)}


@pytest.mark.parametrize("detector_class", [KSDrift, WassersteinDrift, PSIDrift, JensenShannonDrift])
def test_identical_samples_do_not_drift(detector_class: type[DriftDetector]) -> None:
    """Scoring the reference against itself flags nothing, whatever the method."""
    data = normal_table(np.random.default_rng(SEED), 2000)
    data["colour"] = np.array(["red", "green", "blue", "green"] * 500, dtype=object)
    report = detector_class().fit(data).score(data)
    assert not report.dataset_drift
    assert report.share_drifted == 0.0


@pytest.mark.parametrize("detector_class", [KSDrift, WassersteinDrift, PSIDrift, JensenShannonDrift])
def test_a_large_shift_drifts_only_where_it_happened(detector_class: type[DriftDetector]) -> None:
    """A one-standard-deviation shift of f0 is flagged, and no other feature is."""
    rng = np.random.default_rng(SEED)
    reference, current = normal_table(rng, 3000), normal_table(rng, 3000)
    current["f0"] = current["f0"] + 1.0
    report = detector_class().fit(reference).score(current)
    assert report.drifted_features == ("f0",)
    assert report.feature("f0").effect_size == pytest.approx(1.0, abs=0.1)


def test_small_shift_is_significant_at_large_n() -> None:
    """A 0.05-sd shift at 100k rows is flagged by KS (Evidently's Wasserstein >= 0.1 misses it)."""
    rng = np.random.default_rng(SEED)
    reference, current = normal_table(rng, 100_000, 3), normal_table(rng, 100_000, 3)
    current["f1"] = current["f1"] + 0.05
    assert KSDrift().fit(reference).score(current).drifted_features == ("f1",)
    assert WassersteinDrift().fit(reference).score(current).drifted_features == ()
    assert KSDrift(min_effect=0.1).fit(reference).score(current).drifted_features == ()


def test_false_alarm_rate_stays_under_alpha_on_null_data() -> None:
    """Over 200 null windows of 10 features, the dataset-level verdict fires in at most 5% + noise."""
    rng = np.random.default_rng(SEED)
    alarms = 0
    for _ in range(200):
        reference, current = normal_table(rng, 200, 10), normal_table(rng, 200, 10)
        alarms += KSDrift(workers=1).fit(reference).score(current).dataset_drift
    assert alarms / 200 <= 0.08


def test_result_carries_method_statistic_p_value_effect_and_threshold() -> None:
    """Every numeric result has its method, statistic, p-value, adjusted p-value, effect size and threshold."""
    rng = np.random.default_rng(SEED)
    result = KSDrift().fit(normal_table(rng, 500)).score(normal_table(rng, 500)).feature("f0")
    assert result.method == "ks+spread"
    assert 0.0 <= result.statistic <= 1.0
    assert result.p_value is not None
    assert result.p_value_adjusted is not None
    assert result.p_value_adjusted >= result.p_value
    assert result.threshold == 0.05
    assert result.effect_size_name == "wasserstein_std"


def test_scoring_before_fitting_raises_not_fitted() -> None:
    """score() before fit() names the detector class."""
    with pytest.raises(NotFittedError, match="KSDrift"):
        KSDrift().score({"a": [1.0, 2.0]})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 2}, "`alpha` must be in \\(0, 1\\), got 2"),
        ({"correction": "holm"}, "`correction` must be one of bh, bonferroni, got 'holm'"),
        ({"min_count": 0}, "`min_count` must be >= 1, got 0"),
        ({"min_effect": -1.0}, "`min_effect` must be >= 0, got -1.0"),
        ({"categorical": "colour"}, "`categorical` must be a collection"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs: dict[str, object], message: str) -> None:
    """Validation is eager and the message names the argument and its value."""
    with pytest.raises(ValueError, match=message):
        KSDrift(**kwargs)  # type: ignore[arg-type]


def test_bad_threshold_and_bins_are_named() -> None:
    """Distance detectors validate their own hyperparameters."""
    with pytest.raises(ValueError, match="`threshold` must be > 0, got 0"):
        WassersteinDrift(threshold=0)
    with pytest.raises(ValueError, match="`n_bins` must be >= 2, got 1"):
        PSIDrift(n_bins=1)


def test_current_missing_a_column_is_named() -> None:
    """A column the reference has and the current lacks is named in the error."""
    detector = KSDrift().fit({"a": np.arange(100.0), "b": np.arange(100.0)})
    with pytest.raises(ValueError, match="lacks column\\(s\\) the reference has: b"):
        detector.score({"a": np.arange(100.0)})


def test_missing_values_never_crash_and_a_missing_rate_change_is_its_own_signal() -> None:
    """NaN and None are missing; 30% missing in current (none in reference) flags the missing signal only."""
    rng = np.random.default_rng(SEED)
    reference = {"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], size=2000).astype(object)}
    x, c = rng.normal(size=2000), rng.choice(["a", "b"], size=2000).astype(object)
    x[:600], c[:600] = np.nan, None
    report = KSDrift().fit(reference).score({"x": x, "c": c})
    for name in ("x", "c"):
        result = report.feature(name)
        assert result.missing.drifted
        assert not result.distribution_drifted
        assert result.drifted
        assert result.missing.current_rate == pytest.approx(0.3)


def test_unseen_categories_are_their_own_signal() -> None:
    """A category the reference never saw, in 5% of current rows, fires the unseen signal with examples."""
    rng = np.random.default_rng(SEED)
    reference = {"c": rng.choice(["a", "b", "c"], size=3000).astype(object)}
    current_values = rng.choice(["a", "b", "c"], size=3000).astype(object)
    current_values[:150] = "new"
    result = KSDrift().fit(reference).score({"c": current_values}).feature("c")
    assert result.unseen is not None
    assert result.unseen.drifted
    assert result.unseen.count == 150
    assert result.unseen.examples == ("new",)


def test_few_distinct_numbers_are_tested_as_categories() -> None:
    """A numeric column with at most 5 distinct values gets chi-square, not KS."""
    rng = np.random.default_rng(SEED)
    reference = {"n": rng.integers(0, 3, size=1000)}
    current = {"n": rng.integers(0, 3, size=1000)}
    result = KSDrift().fit(reference).score(current).feature("n")
    assert result.kind == "categorical"
    assert result.method == "chi_square"
    assert not result.drifted


def test_below_min_count_reports_not_enough_data() -> None:
    """A window with fewer values than min_count is not judged, and says so."""
    rng = np.random.default_rng(SEED)
    report = KSDrift(min_count=50).fit({"x": rng.normal(size=500)}).score({"x": rng.normal(size=20) + 5})
    result = report.feature("x")
    assert not result.enough_data
    assert not result.drifted
    assert result.p_value is None
    assert not report.enough_data
    assert not report.dataset_drift


def test_bonferroni_is_more_conservative_than_bh() -> None:
    """Adjusted p-values under Bonferroni are never below those under BH."""
    rng = np.random.default_rng(SEED)
    reference, current = normal_table(rng, 800, 8), normal_table(rng, 800, 8)
    current["f0"] = current["f0"] + 0.15
    bh = KSDrift().fit(reference).score(current)
    bonferroni = KSDrift(correction="bonferroni").fit(reference).score(current)
    for name in reference:
        assert bonferroni.feature(name).p_value_adjusted >= bh.feature(name).p_value_adjusted  # type: ignore[operator]
    assert bonferroni.correction == "bonferroni"


def test_report_json_shape_is_stable() -> None:
    """to_dict has the documented top-level and per-feature keys and only finite numbers."""
    rng = np.random.default_rng(SEED)
    data = {"x": rng.normal(size=100), "c": np.array(["a", "b"] * 50, dtype=object)}
    shape = KSDrift(min_count=200).fit(data).score(data).to_dict()
    assert list(shape) == [
        "schema", "detector", "verdict", "not_enough_data", "dataset_drift", "enough_data", "share_drifted",
        "drifted_features", "correction", "alpha", "reference_rows", "current_rows", "features", "joint",
    ]  # fmt: skip
    assert shape["schema"] == "inferwatch.drift/v1"
    assert shape["verdict"] == "not_enough_data"
    assert shape["not_enough_data"] == ["x", "c"]
    assert shape["features"][0]["statistic"] is None  # not enough data: NaN becomes null
    assert set(shape["features"][0]) >= {"feature", "kind", "method", "p_value", "effect_size", "threshold", "drifted"}
