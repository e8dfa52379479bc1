"""The joint test on bundled data: relations between numeric features that change while every marginal holds."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine

from detectors.drift import KSDrift
from detectors.drift.cli import format_table, verdict_line
from detectors.drift.joint import MAX_CELLS, MAX_ROWS, fit_joint
from detectors.drift.stats import rank_sum_greater_p_value


def halves(data: np.ndarray, seed: int, rows: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A random split, ``rows`` a side, as frames; column 0's values shuffled among the current rows."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    reference, current = data[order[:rows]].copy(), data[order[rows : 2 * rows]].copy()
    current[:, 0] = rng.permutation(current[:, 0])
    return (
        {f"x{j}": reference[:, j] for j in range(data.shape[1])},
        {f"x{j}": current[:, j] for j in range(data.shape[1])},
    )


def test_a_column_decoupled_from_the_others_is_caught_by_the_joint_test_only() -> None:
    """Mean radius shuffled among the current rows: its own distribution is that of a random split, but it no
    longer follows perimeter and area. Over 20 splits of 250 rows a side the report finds drift in at least 18,
    through the joint test; the feature itself drifts in at most 2 (so without the joint test the report said
    "no drift" in 18 or more). At 100 rows a side the joint test, one of 31 corrected tests, catches 5 of 20."""
    data = load_breast_cancer().data
    joint_caught, feature_caught = 0, 0
    for seed in range(20):
        reference, current = halves(data, seed, 250)
        report = KSDrift(workers=1).fit(reference).score(current)
        assert report.joint is not None
        joint_caught += report.joint.drifted and report.dataset_drift
        feature_caught += report.feature("x0").drifted
    assert joint_caught >= 18
    assert feature_caught <= 2
    reference, current = halves(data, 0, 250)
    report = KSDrift(workers=1).fit(reference).score(current)
    assert report.verdict == "drift"
    assert report.drifted_features == ()
    assert "0 of 30 features drifted (0%), none on its own; and the numeric features no longer relate" in (
        verdict_line(report)
    )


def test_joint_test_is_reported_in_json_and_table() -> None:
    """The report's joint field names the features and components; the table says it in one line."""
    reference, current = halves(load_wine().data, 0, 89)
    report = KSDrift(workers=1).fit(reference).score(current)
    shape = report.to_dict()["joint"]
    assert shape["method"] == "pca_reconstruction"
    assert shape["features"] == [f"x{j}" for j in range(13)]
    assert 1 <= shape["components"] < 13
    assert shape["current_median_error"] > shape["reference_median_error"]
    assert "joint test of 13 numeric features" in format_table(report)


def test_joint_test_is_left_out_where_it_cannot_or_need_not_run() -> None:
    """One numeric feature, too few rows, more than MAX_ROWS or MAX_CELLS: no joint field, features as before."""
    rng = np.random.default_rng(1)
    one = {"x": rng.normal(size=500), "c": np.array(["a", "b"] * 250, dtype=object)}
    assert KSDrift(workers=1).fit(one).score(one).joint is None
    few = {"x": rng.normal(size=50), "y": rng.normal(size=50)}
    assert KSDrift(workers=1).fit(few).score(few).joint is None
    many = {"x": rng.normal(size=MAX_ROWS + 1), "y": rng.normal(size=MAX_ROWS + 1)}
    assert KSDrift(workers=1).fit(many).score({"x": many["x"][:1000], "y": many["y"][:1000]}).joint is None
    column = rng.normal(size=200)
    assert fit_joint({f"x{j}": column for j in range(MAX_CELLS // 200 + 1)}, 200, 30) is None
    assert fit_joint({"x": column, "y": column[::-1]}, 200, 30) is not None


def test_rank_sum_greater_matches_the_textbook_count() -> None:
    """All current values above all reference ones gives the smallest p; identical samples give about 0.5."""
    low, high = np.arange(30, dtype=np.float64), np.arange(30, 60, dtype=np.float64)
    assert rank_sum_greater_p_value(low, high) < 1e-9
    assert rank_sum_greater_p_value(high, low) > 1 - 1e-9
    assert 0.45 < rank_sum_greater_p_value(low, low) < 0.55
