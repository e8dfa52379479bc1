"""Performance metrics and their intervals against hand-computed answers; the one-sided drift decision."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.drift.performance import (
    Performance,
    classification_performance,
    compare_performance,
    regression_performance,
    roc_auc,
    wilson_interval,
)


def test_wilson_interval_known_answer() -> None:
    """8 of 10: the Wilson 95% interval is (0.4902, 0.9433), as in Newcombe (1998)."""
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_roc_auc_known_answers() -> None:
    """Perfect ranking is 1, reversed is 0, one tie between classes counts a half."""
    positive = np.array([False, False, True, True])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), positive) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), positive) == 0.0
    assert roc_auc(np.array([0.1, 0.5, 0.5, 0.9]), positive) == pytest.approx(0.875)
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([True, True])))


def test_classification_metrics_and_intervals() -> None:
    """Accuracy, macro F1 and AUC match hand counts, each inside its own interval."""
    predicted = ["a", "a", "b", "b"] * 25
    actual = ["a", "b", "b", "b"] * 25
    positive = [("b", 0.2), ("b", 0.6), ("b", 0.7), ("b", 0.9)] * 25
    result = classification_performance(predicted, actual, positive)
    accuracy, f1, auc = (result.metric(name) for name in ("accuracy", "f1_macro", "roc_auc"))
    assert accuracy is not None
    assert f1 is not None
    assert auc is not None
    assert accuracy.value == 0.75
    # class a: precision 1/2, recall 1 -> F1 2/3; class b: precision 1, recall 2/3 -> F1 0.8
    assert f1.value == pytest.approx((2 / 3 + 0.8) / 2)
    assert auc.value == 1.0
    for metric in (accuracy, f1):
        assert metric.low <= metric.value <= metric.high


def test_regression_metrics() -> None:
    """MAE and RMSE of known errors."""
    result = regression_performance([1.0, 2.0, 3.0, 4.0] * 10, [1.0, 1.0, 5.0, 4.0] * 10)
    mae, rmse = result.metric("mae"), result.metric("rmse")
    assert mae is not None
    assert rmse is not None
    assert mae.value == pytest.approx(0.75)
    assert rmse.value == pytest.approx(math.sqrt(5 / 4))


def test_accuracy_drop_is_drift_and_a_gain_is_not() -> None:
    """90% -> 80% on 1,000 each is significant; 80% -> 90% is not drift (one-sided)."""
    labels = ["x"] * 1000
    good = classification_performance(["x"] * 900 + ["y"] * 100, labels)
    worse = classification_performance(["x"] * 800 + ["y"] * 200, labels)
    down = compare_performance(good, worse)
    assert down.drifted
    assert down.loss == pytest.approx(0.1)
    assert down.p_value < 1e-6
    assert not compare_performance(worse, good).drifted


def test_a_negligible_loss_is_not_drift_however_significant() -> None:
    """min_loss keeps a certain but tiny drop from paging."""
    reference = Performance("classification", 1_000_000, (), correct=900_000)
    current = Performance("classification", 1_000_000, (), correct=899_000)
    verdict = compare_performance(reference, current, min_loss=0.01)
    assert verdict.p_value < 0.05
    assert not verdict.drifted


def test_regression_error_growth_is_drift_and_the_same_error_rarely_is() -> None:
    """Doubling the absolute error is drift by Welch's test; the same error flags at most 3 of 20 seeds."""
    false_alarms = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        actual = rng.standard_normal(500)
        truth = actual.tolist()
        reference = regression_performance((actual + rng.normal(0, 0.1, 500)).tolist(), truth)
        same = regression_performance((actual + rng.normal(0, 0.1, 500)).tolist(), truth)
        worse = regression_performance((actual + rng.normal(0, 0.2, 500)).tolist(), truth)
        assert compare_performance(reference, worse).drifted
        false_alarms += compare_performance(reference, same).drifted
    assert false_alarms <= 3


def test_round_trip_and_mismatched_tasks() -> None:
    """to_dict/from_dict is lossless; comparing a classifier with a regressor is an error."""
    classifier = classification_performance(["a", "b"] * 20, ["a", "a"] * 20)
    assert Performance.from_dict(classifier.to_dict()) == classifier
    regressor = regression_performance([1.0] * 40, [2.0] * 40)
    with pytest.raises(ValueError, match="cannot compare classification performance with regression"):
        compare_performance(classifier, regressor)
