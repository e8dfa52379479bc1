"""Known-answer tests for scoring drift from mergeable summaries."""

from __future__ import annotations

import numpy as np
import pytest

from collector.core.errors import NotFittedError
from detectors.drift import CategoricalSummary, NumericSummary, SummaryDrift

SEED = 99


def test_identical_distributions_do_not_flag_across_many_windows() -> None:
    """Binned KS is conservative: 100 null windows of 5 features alarm at most 5% of the time."""
    rng = np.random.default_rng(SEED)
    reference = {f"f{i}": NumericSummary.fit(rng.normal(size=5000)) for i in range(5)}
    detector = SummaryDrift().fit(reference)
    alarms = sum(
        detector.score({name: ref.summarise(rng.normal(size=2000)) for name, ref in reference.items()}).dataset_drift
        for _ in range(100)
    )
    assert alarms <= 5


def test_shift_is_caught_from_merged_shards() -> None:
    """A 0.2-sd shift summarised on 4 replicas and merged is flagged; the unshifted feature is not."""
    rng = np.random.default_rng(SEED)
    reference = {"x": NumericSummary.fit(rng.normal(size=20000)), "y": NumericSummary.fit(rng.normal(size=20000))}
    shards = [
        {
            "x": reference["x"].summarise(rng.normal(0.2, size=2500)),
            "y": reference["y"].summarise(rng.normal(size=2500)),
        }
        for _ in range(4)
    ]
    current = {
        name: shards[0][name].merge(shards[1][name]).merge(shards[2][name]).merge(shards[3][name]) for name in "xy"
    }
    report = SummaryDrift().fit(reference).score(current)
    assert report.drifted_features == ("x",)
    assert report.feature("x").method == "binned_ks"
    assert report.feature("x").effect_size == pytest.approx(0.2, abs=0.05)


def test_categorical_summary_flags_unseen_and_share_change() -> None:
    """A new category in the current summary fires the unseen signal."""
    reference = {"c": CategoricalSummary.from_values(["a"] * 500 + ["b"] * 500)}
    current = {"c": CategoricalSummary.from_values(["a"] * 450 + ["b"] * 450 + ["z"] * 100)}
    result = SummaryDrift().fit(reference).score(current).feature("c")
    assert result.drifted
    assert result.unseen is not None
    assert result.unseen.drifted


def test_mismatched_edges_and_unfitted_scoring_raise() -> None:
    """Scoring before fit raises NotFittedError; a current summary on other edges is refused."""
    with pytest.raises(NotFittedError, match="SummaryDrift"):
        SummaryDrift().score({})
    rng = np.random.default_rng(SEED)
    detector = SummaryDrift().fit({"x": NumericSummary.fit(rng.normal(size=500))})
    with pytest.raises(ValueError, match="reference's edges"):
        detector.score({"x": NumericSummary.fit(rng.normal(size=500))})
