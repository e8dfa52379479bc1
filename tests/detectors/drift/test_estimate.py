"""The label-free accuracy estimate: calibrated on the reference's outcomes, read from a window's confidence."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.drift.estimate import ConfidenceCalibration
from detectors.drift.summaries import NumericSummary


def test_an_overconfident_model_is_estimated_at_its_real_accuracy() -> None:
    """A model that says 0.9 but is right 60% of the time is estimated at 0.6, not at its stated confidence."""
    rng = np.random.default_rng(0)
    confidences = rng.uniform(0.85, 0.95, 2000)
    correct = (rng.random(2000) < 0.6).tolist()
    summary = NumericSummary.fit(confidences)
    calibration = ConfidenceCalibration.fit(summary, confidences.tolist(), correct)
    window = summary.summarise(rng.uniform(0.85, 0.95, 500))
    estimate = calibration.estimate(window)
    assert estimate == pytest.approx(0.6, abs=0.03)
    assert calibration.reference_accuracy == pytest.approx(0.6, abs=0.03)


def test_estimate_follows_the_confidence_mix() -> None:
    """Right always when sure and half the time when not: a window of unsure predictions is estimated at 0.5."""
    confidences = [0.99] * 500 + [0.55] * 500
    correct = [True] * 500 + [bool(i % 2) for i in range(500)]
    summary = NumericSummary.fit(confidences, n_bins=10)
    calibration = ConfidenceCalibration.fit(summary, confidences, correct)
    assert calibration.estimate(summary.summarise([0.55] * 300)) == pytest.approx(0.5, abs=0.01)
    assert calibration.estimate(summary.summarise([0.99] * 300)) == pytest.approx(1.0, abs=0.01)
    assert calibration.estimate(summary.empty()) is None
    assert calibration.significant_drop(0.5, 300, min_loss=0.01)
    assert not calibration.significant_drop(0.74, 20, min_loss=0.01)  # one-sigma noise in a tiny window
    assert ConfidenceCalibration.from_dict(calibration.to_dict()) == calibration


def test_mismatched_inputs_are_named() -> None:
    """Lengths that differ, no outcomes, or a window on other bins are errors that say so."""
    summary = NumericSummary.fit([0.5, 0.6, 0.7, 0.8, 0.9] * 10)
    with pytest.raises(ValueError, match="3 confidences but 2 correctness flags"):
        ConfidenceCalibration.fit(summary, [0.5, 0.6, 0.7], [True, False])
    with pytest.raises(ValueError, match="at least one prediction with an outcome"):
        ConfidenceCalibration.fit(summary, [], [])
    calibration = ConfidenceCalibration.fit(summary, [0.5, 0.9], [False, True])
    with pytest.raises(ValueError, match="not on the calibration's bins"):
        calibration.estimate(NumericSummary.fit([1.0, 2.0, 3.0], n_bins=2))
