"""The batch drift detectors. Each writes only its statistic; ``DriftDetector`` does the rest.

Defaults by type and sample size (what ``KSDrift``, the default of ``inferwatch drift check``, does):

=========================================  =====================================================
column                                     test
=========================================  =====================================================
numeric, more than 5 distinct values       two-sample Kolmogorov-Smirnov (exact p-value when
                                           n*m <= 1e6, asymptotic above), Brown-Forsythe and Mood
                                           spread tests (Mood up to 100k values), one Cauchy-
                                           combined p-value
numbers stored as text                     as numeric (typing ``numeric_text``)
numeric with <= 5 distinct values, text,   chi-square of homogeneity over the values of both sides,
booleans                                   values with expected count < 5 pooled (Cochran's rule)
                                           decided from both sides together (typing ``discrete``
                                           or ``categorical``); how many current rows hold values
                                           the reference lacks is the unseen-value test's question
text (or whole numbers as text) with at    an identifier: distribution not tested unless the column
least 95% distinct values                  is named in ``categorical``
fewer than ``min_count`` (30) values       not judged: ``enough_data=False``
all numeric features together (2 or more,  PCA reconstruction error of current rows against held-out
at most 100k rows a side)                  reference rows, one-sided rank-sum (``joint``)
=========================================  =====================================================

Why p-values with Benjamini-Hochberg rather than Evidently's effect-size rule above 1,000 rows
(normalised Wasserstein >= 0.1): the test's false-alarm rate is ``alpha`` at every size, across features,
and its power only grows with n, so at large n it flags everything Wasserstein >= 0.1 flags and more (a 0.05
standard-deviation shift at 100k rows). Where a practically small shift should not alarm, set ``min_effect``:
a feature then drifts only when significant *and* its normalised Wasserstein is at least that.

Effect sizes: numeric features report the Wasserstein-1 distance divided by the reference's standard
deviation (Evidently's normalisation, so 0.1 means the same thing in both tools); categorical features report
the Jensen-Shannon distance (base 2, in [0, 1]) between the category shares, unseen values in one cell.

Distance detectors (``WassersteinDrift``, ``PSIDrift``, ``JensenShannonDrift``) have no p-value and are held
against a threshold (0.1 for each, Evidently's defaults); PSI and JS bin numeric features at ``n_bins``
quantiles of the reference, with open outer bins.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import numpy as np

from detectors.drift.base import (
    DEFAULT_MIN_COUNT,
    AlignedCounts,
    DriftDetector,
    NumericReference,
    validate_positive,
)
from detectors.drift.columns import NumericColumn
from detectors.drift.results import Correction, SpreadChange, Statistic
from detectors.drift.stats import (
    bin_counts,
    cauchy_combination,
    js_distance,
    ks_and_wasserstein,
    ks_p_value,
    ks_wasserstein_and_mood,
    psi,
    quantile_edges,
    spread_p_value,
)

DEFAULT_THRESHOLD = 0.1
DEFAULT_BINS = 10
# Above this many values (both sides) Mood's test is left out: it would add half again to KS's time per column at
# a million rows a side, where KS and Brown-Forsythe already catch a spread change of a few percent.
MOOD_MAX_ROWS: Final = 100_000


class KSDrift(DriftDetector):
    """Kolmogorov-Smirnov and two spread tests on numeric features, chi-square on categorical ones (the default).

    A numeric feature's p-value is the Cauchy combination of three tests of "same distribution": KS, and the
    Brown-Forsythe and Mood tests of equal spread, so each feature still adds one p-value to the family and the
    false-alarm rate stays at ``alpha``. KS misses a change of spread that keeps the median at small samples;
    Brown-Forsythe (mean absolute deviations) and Mood (rank scores, distribution-free, stronger on skewed
    columns) catch it, and the combination, unlike Bonferroni over the three, pays little for asking three
    times when they agree. Chosen by measurement in ``benchmarks/drift_quality.py --rows 100``: it lifts a
    spread x1.5 on three breast-cancer columns from about 7 in 10 splits caught to 8 or 9; Anderson-Darling or
    Cramer-von Mises in place of KS, Lepage's test, or an energy-distance permutation test over the numeric
    columns added nothing at these sizes (the energy test caught none of 10 breast-cancer splits with noise on
    three of 30 columns). ``spread`` in the result gives the spread ratio and the two spread tests' own
    combined p-value. The numeric features' joint test (``detectors.drift.joint``) joins the family too: noise
    on a few columns breaks their relations to the others before it moves their own distributions.
    """

    numeric_method = "ks+spread"
    joint_test = True

    def numeric_statistic(self, reference: NumericReference, current: NumericColumn) -> Statistic:
        """KS distance, the combined p-value; effect size is the normalised Wasserstein distance."""
        ref, cur = reference.column.values, current.values
        ratio, p_brown_forsythe = spread_p_value(ref, cur)
        spread_tests: tuple[float, ...] = (p_brown_forsythe,)
        if ref.size + cur.size <= MOOD_MAX_ROWS:
            distance, wasserstein, p_mood = ks_wasserstein_and_mood(ref, cur)
            spread_tests += (p_mood,)
        else:
            distance, wasserstein = ks_and_wasserstein(ref, cur)
        p_ks = ks_p_value(distance, ref, cur)
        p_value = cauchy_combination((p_ks, *spread_tests))
        spread = SpreadChange(ratio, cauchy_combination(spread_tests))
        return Statistic(self.numeric_method, distance, p_value, wasserstein / reference.scale, spread=spread)


class _DistanceDetector(DriftDetector):
    """A detector whose statistic is a distance held against ``threshold``."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        alpha: float = 0.05,
        correction: Correction = "bh",
        categorical: Collection[str] = (),
        min_count: int = DEFAULT_MIN_COUNT,
        workers: int | None = None,
    ) -> None:
        super().__init__(
            alpha=alpha, correction=correction, categorical=categorical, min_count=min_count, workers=workers
        )
        self.threshold = validate_positive("threshold", threshold)


class WassersteinDrift(_DistanceDetector):
    """Wasserstein-1 distance over the reference's standard deviation (Evidently's default above 1,000 rows)."""

    numeric_method = "wasserstein_std"

    def numeric_statistic(self, reference: NumericReference, current: NumericColumn) -> Statistic:
        """Normalised Wasserstein distance, held against ``threshold``."""
        _, wasserstein = ks_and_wasserstein(reference.column.values, current.values)
        effect = wasserstein / reference.scale
        return Statistic(self.numeric_method, effect, None, effect, self.threshold)


class _BinnedDetector(_DistanceDetector):
    """A distance over bins at the reference's quantiles (numeric) or over category shares (categorical)."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        n_bins: int = DEFAULT_BINS,
        alpha: float = 0.05,
        correction: Correction = "bh",
        categorical: Collection[str] = (),
        min_count: int = DEFAULT_MIN_COUNT,
        workers: int | None = None,
    ) -> None:
        super().__init__(
            threshold=threshold,
            alpha=alpha,
            correction=correction,
            categorical=categorical,
            min_count=min_count,
            workers=workers,
        )
        if n_bins < 2:
            raise ValueError(f"`n_bins` must be >= 2, got {n_bins}")
        self.n_bins = n_bins

    def distance(self, reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
        """The distance between two count vectors over the same cells."""
        raise NotImplementedError

    def numeric_statistic(self, reference: NumericReference, current: NumericColumn) -> Statistic:
        """The distance over quantile bins; effect size is the normalised Wasserstein distance."""
        edges = quantile_edges(reference.column.values, self.n_bins)
        ref_counts = bin_counts(reference.column.values, edges)
        cur_counts = bin_counts(current.values, edges)
        _, wasserstein = ks_and_wasserstein(reference.column.values, current.values)
        value = self.distance(ref_counts, cur_counts)
        return Statistic(self.numeric_method, value, None, wasserstein / reference.scale, self.threshold)

    def categorical_statistic(self, counts: AlignedCounts) -> Statistic:
        """The distance over category shares, unseen values in one extra cell."""
        value = self.distance(counts.reference, counts.current)
        effect = js_distance(counts.reference, counts.current)
        return Statistic(self.categorical_method, value, None, effect, self.threshold)


class PSIDrift(_BinnedDetector):
    """Population stability index (>= 0.1 is Evidently's and the industry's 'moderate shift')."""

    numeric_method = "psi"
    categorical_method = "psi"

    def distance(self, reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
        """PSI on floored shares."""
        return psi(reference_counts, current_counts)


class JensenShannonDrift(_BinnedDetector):
    """Jensen-Shannon distance (base 2, in [0, 1])."""

    numeric_method = "jensen_shannon"
    categorical_method = "jensen_shannon"

    def distance(self, reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
        """JS distance on shares."""
        return js_distance(reference_counts, current_counts)
