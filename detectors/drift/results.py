"""Typed drift results: one :class:`FeatureDrift` per feature, gathered in one :class:`DriftReport`.

``to_dict`` gives the stable JSON shape documented in the README's "Offline drift check" (schema
``inferwatch.drift/v1``): adding a key is allowed, renaming or removing one needs a new schema version.
Every float in it is finite, so it is plain JSON (no ``NaN`` or ``Infinity``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

Kind = Literal["numeric", "categorical"]
Correction = Literal["bh", "bonferroni"]
# The report's one-word answer: "not_enough_data" when nothing drifted but some feature could not be judged,
# so a gate that reads only the verdict (or the exit code) never passes a check that did not happen.
Verdict = Literal["drift", "no_drift", "not_enough_data"]
CORRECTIONS: Final = ("bh", "bonferroni")
SCHEMA: Final = "inferwatch.drift/v1"


def _finite(value: float | None) -> float | None:
    """The value, or None where it is not a finite number (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class SpreadChange:
    """How the spread moved: current over reference mean absolute deviation from the median, and its test."""

    ratio: float
    p_value: float


@dataclass(frozen=True)
class Statistic:
    """What a subclass computes for one feature: the test's own numbers, before any correction."""

    method: str
    statistic: float
    p_value: float | None
    effect_size: float
    # Distance methods hold the statistic against this; p-value methods are held against `alpha` instead.
    threshold: float | None = None
    spread: SpreadChange | None = None


@dataclass(frozen=True)
class MissingRateChange:
    """The share of missing values in reference and current, and a two-proportion z-test of the change."""

    reference_rate: float
    current_rate: float
    p_value: float | None
    p_value_adjusted: float | None
    drifted: bool


@dataclass(frozen=True)
class UnseenCategories:
    """Current values the reference never saw, tested against the reference's Good-Turing missing mass."""

    count: int
    share: float
    expected_share: float
    p_value: float | None
    p_value_adjusted: float | None
    drifted: bool
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureDrift:
    """The verdict on one feature: the distribution test, plus missing-rate and unseen-category signals.

    ``drifted`` is true when any of the three signals fired. ``threshold`` is what ``statistic`` (distance
    methods) or ``p_value_adjusted`` (test methods) was held against.
    """

    feature: str
    kind: Kind
    method: str
    statistic: float
    p_value: float | None
    p_value_adjusted: float | None
    effect_size: float
    effect_size_name: str
    threshold: float
    distribution_drifted: bool
    drifted: bool
    reference_count: int
    current_count: int
    enough_data: bool
    missing: MissingRateChange
    unseen: UnseenCategories | None = None
    # How the column was typed: numeric, numeric_text (numbers stored as text), discrete (a number with few
    # values, tested as categories), categorical, or identifier (nearly all distinct: not tested).
    typing: str = ""
    spread: SpreadChange | None = None

    def to_dict(self) -> dict[str, Any]:
        """This result in the stable JSON shape."""
        unseen = self.unseen
        return {
            "feature": self.feature,
            "kind": self.kind,
            "typing": self.typing or self.kind,
            "method": self.method,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "p_value_adjusted": _finite(self.p_value_adjusted),
            "effect_size": _finite(self.effect_size),
            "effect_size_name": self.effect_size_name,
            "threshold": self.threshold,
            "distribution_drifted": self.distribution_drifted,
            "drifted": self.drifted,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
            "enough_data": self.enough_data,
            "missing": {
                "reference_rate": self.missing.reference_rate,
                "current_rate": self.missing.current_rate,
                "p_value": _finite(self.missing.p_value),
                "p_value_adjusted": _finite(self.missing.p_value_adjusted),
                "drifted": self.missing.drifted,
            },
            "spread": None
            if self.spread is None
            else {"ratio": _finite(self.spread.ratio), "p_value": _finite(self.spread.p_value)},
            "unseen": None
            if unseen is None
            else {
                "count": unseen.count,
                "share": unseen.share,
                "expected_share": unseen.expected_share,
                "p_value": _finite(unseen.p_value),
                "p_value_adjusted": _finite(unseen.p_value_adjusted),
                "drifted": unseen.drifted,
                "examples": list(unseen.examples),
            },
        }


@dataclass(frozen=True)
class JointDrift:
    """The numeric features' joint test (``detectors.drift.joint``): did rows leave the reference's PCA subspace?

    ``reference_median_error`` is the held-out reference rows' median squared reconstruction error (in
    reference standard deviations), ``current_median_error`` the current rows'; the p-value is a one-sided
    rank-sum test of the two, corrected with the features' tests.
    """

    method: str
    features: tuple[str, ...]
    components: int
    reference_median_error: float
    current_median_error: float
    p_value: float
    p_value_adjusted: float
    drifted: bool

    def describe(self) -> str:
        """One line for a person: what was compared, the median errors, p and the decision."""
        decision = "YES: rows left the reference's joint pattern" if self.drifted else "no"
        return (
            f"joint test of {len(self.features)} numeric features ({self.method}, {self.components} components): "
            f"median error {self.reference_median_error:.3g} -> {self.current_median_error:.3g}, "
            f"p {self.p_value:.3g}, p adj {self.p_value_adjusted:.3g}: {decision}"
        )

    def to_dict(self) -> dict[str, Any]:
        """This result in the stable JSON shape."""
        return {
            "method": self.method,
            "features": list(self.features),
            "components": self.components,
            "reference_median_error": _finite(self.reference_median_error),
            "current_median_error": _finite(self.current_median_error),
            "p_value": _finite(self.p_value),
            "p_value_adjusted": _finite(self.p_value_adjusted),
            "drifted": self.drifted,
        }


def by_effect_size(results: Iterable[FeatureDrift]) -> tuple[FeatureDrift, ...]:
    """Largest effect size first (an untested one counts as 0); ties keep their order."""
    return tuple(sorted(results, key=lambda result: -(_finite(result.effect_size) or 0.0)))


@dataclass(frozen=True)
class DriftReport:
    """Per-feature results and the dataset-level verdict.

    ``dataset_drift`` is true when any feature, or the numeric features' joint test (``joint``, batch
    detectors only), drifted after the correction. Under Benjamini-Hochberg that is Simes' global test, so on
    data without drift it fires with probability at most ``alpha``.
    """

    features: tuple[FeatureDrift, ...]
    correction: Correction
    alpha: float
    reference_rows: int
    current_rows: int
    detector: str
    joint: JointDrift | None = None

    @property
    def drifted(self) -> tuple[FeatureDrift, ...]:
        """The features that drifted, largest effect size first, so the dominant one is never "... and 8 more"."""
        return by_effect_size(result for result in self.features if result.drifted)

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the features that drifted, largest effect size first."""
        return tuple(result.feature for result in self.drifted)

    @property
    def not_enough_data(self) -> tuple[str, ...]:
        """Names of the features with fewer than the minimum count of values on a side, in report order."""
        return tuple(result.feature for result in self.features if not result.enough_data)

    @property
    def verdict(self) -> Verdict:
        """Drift if anything drifted; otherwise not enough data if any feature went unjudged; else no drift."""
        if self.dataset_drift:
            return "drift"
        return "not_enough_data" if self.not_enough_data else "no_drift"

    @property
    def share_drifted(self) -> float:
        """Drifted features over features that had enough data to judge (0.0 when none had)."""
        judged = sum(1 for result in self.features if result.enough_data)
        return len(self.drifted_features) / judged if judged else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Whether anything drifted: a feature, or the numeric features' joint relations."""
        return bool(self.drifted_features) or (self.joint is not None and self.joint.drifted)

    @property
    def enough_data(self) -> bool:
        """Whether at least one feature had enough data on both sides to be judged."""
        return any(result.enough_data for result in self.features)

    def feature(self, name: str) -> FeatureDrift:
        """The result for one feature, by name."""
        for result in self.features:
            if result.feature == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The whole report in the stable JSON shape."""
        return {
            "schema": SCHEMA,
            "detector": self.detector,
            "verdict": self.verdict,
            "not_enough_data": list(self.not_enough_data),
            "dataset_drift": self.dataset_drift,
            "enough_data": self.enough_data,
            "share_drifted": self.share_drifted,
            "drifted_features": list(self.drifted_features),
            "correction": self.correction,
            "alpha": self.alpha,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "features": [result.to_dict() for result in self.features],
            "joint": None if self.joint is None else self.joint.to_dict(),
        }
