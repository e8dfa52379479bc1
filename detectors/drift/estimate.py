"""A label-free accuracy estimate from the model's confidence, in the spirit of NannyML's CBPE.

Outcomes arrive late or never; a classifier's confidence arrives with every prediction. On the reference,
where outcomes are known, we learn how often the model is right at each confidence level: the accuracy in
each bin of the reference's ``output.confidence`` summary (its highest class score), shrunk toward the overall
accuracy where a bin holds few outcomes. A window's estimate is that accuracy averaged over the window's own
confidence histogram. This corrects for a model that is over- or under-confident (CBPE calibrates too), and
since it reads only the histogram it merges across windows like every other summary.

What it cannot see: concept drift that leaves the confidence unchanged (the inputs look the same but the
right answers moved). That is what ``drift.performance`` on real outcomes is for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from detectors.drift.summaries import NumericSummary

# Outcomes a bin needs before its own accuracy outweighs the overall one.
PRIOR_OUTCOMES: Final = 5.0


@dataclass(frozen=True)
class ConfidenceCalibration:
    """Accuracy per bin of the reference's confidence summary, and over all of the reference."""

    accuracy_by_bin: tuple[float, ...]
    reference_accuracy: float
    outcomes: int

    @classmethod
    def fit(
        cls, confidence: NumericSummary, confidences: Sequence[float], correct: Sequence[bool]
    ) -> ConfidenceCalibration:
        """Learn accuracy by confidence from predictions with known outcomes, on ``confidence``'s bins."""
        if len(confidences) != len(correct):
            raise ValueError(f"{len(confidences)} confidences but {len(correct)} correctness flags")
        if not correct:
            raise ValueError("calibration needs at least one prediction with an outcome")
        edges = np.asarray(confidence.edges, dtype=np.float64)
        bins = np.searchsorted(edges, np.asarray(confidences, dtype=np.float64), side="right")
        hits = np.asarray(correct, dtype=np.float64)
        overall = float(hits.mean())
        counts = np.bincount(bins, minlength=edges.size + 1)
        right = np.bincount(bins, weights=hits, minlength=edges.size + 1)
        shrunk = (right + PRIOR_OUTCOMES * overall) / (counts + PRIOR_OUTCOMES)
        return cls(tuple(shrunk.tolist()), overall, len(correct))

    def estimate(self, window: NumericSummary) -> float | None:
        """Expected accuracy of a window from its confidence histogram; None when it holds no confidences."""
        if len(window.counts) != len(self.accuracy_by_bin):
            raise ValueError("the window's confidence summary is not on the calibration's bins")
        total = window.count
        if total == 0:
            return None
        return float(np.dot(window.counts, self.accuracy_by_bin) / total)

    def significant_drop(self, estimate: float, count: int, min_loss: float) -> bool:
        """Whether an estimate over ``count`` predictions lies clearly below the reference's accuracy.

        Clearly: by at least ``min_loss`` and by three standard errors of a proportion over ``count``, so the
        sampling noise of a small window does not alarm.
        """
        spread = math.sqrt(max(estimate * (1 - estimate), 1e-12) / max(count, 1))
        return self.reference_accuracy - estimate >= max(min_loss, 3 * spread)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return {
            "accuracy_by_bin": list(self.accuracy_by_bin),
            "reference_accuracy": self.reference_accuracy,
            "outcomes": self.outcomes,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ConfidenceCalibration:
        """Read what ``to_dict`` wrote."""
        return cls(
            tuple(float(x) for x in raw["accuracy_by_bin"]), float(raw["reference_accuracy"]), int(raw["outcomes"])
        )
