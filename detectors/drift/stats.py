"""Vectorised two-sample statistics, p-values and multiple-testing corrections (numpy and scipy only).

Every function takes counts or sorted non-missing values; none loops over rows in Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import special

from detectors.drift.results import Correction

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Shares below this count as this much in PSI and JS, so an empty bin gives a large but finite term (Evidently's floor).
SHARE_FLOOR: Final = 1e-4
# Below this n*m the KS p-value comes from scipy's exact distribution; above it from the asymptotic Kolmogorov law.
EXACT_KS_MAX_NM: Final = 1_000_000
# A chi-square cell whose expected count is below this is pooled with the other rare cells (Cochran's rule).
MIN_EXPECTED: Final = 5.0
# The largest p-value the Cauchy combination reads (see ``cauchy_combination``).
CAUCHY_CAP: Final = 0.99
# The unseen-value test's exact tail costs distinct value counts x unseen rows: above either bound, the normal law
# (about a second at the bounds on a busy 2-core machine).
EXACT_UNSEEN_MAX_WORK: Final = 2_000_000
EXACT_UNSEEN_MAX_ROWS: Final = 5_000


def ks_and_wasserstein(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """KS distance D and Wasserstein-1 distance between two samples, both given sorted and non-empty."""
    distance, wasserstein, _ = _compare(reference, current, with_mood=False)
    return distance, wasserstein


def ks_wasserstein_and_mood(reference: FloatArray, current: FloatArray) -> tuple[float, float, float]:
    """KS distance, Wasserstein-1 distance and Mood's spread-test p-value, from one merge of two sorted samples."""
    return _compare(reference, current, with_mood=True)


def _compare(reference: FloatArray, current: FloatArray, *, with_mood: bool) -> tuple[float, float, float]:
    """D, W1 and (when asked, else NaN) Mood's p-value between two samples, both given sorted and non-empty.

    All come from the two empirical CDFs evaluated on the merged sample: D is the largest gap between
    them at the end of each run of tied values, W1 the area between them. The merge is a stable argsort of
    the two sorted runs (timsort merges them in linear time) and tells each merged value's side, so the CDFs
    are one cumulative sum, with no binary search per value: at a million rows a side that is a third of
    the time of evaluating each CDF by ``searchsorted``. Mood's test reads the same cumulative sum at the
    ends of the runs of ties, so it costs no second sort.
    """
    n, m = reference.size, current.size
    both = np.concatenate((reference, current))
    order = np.argsort(both, kind="stable")
    merged = both[order]
    del both
    run_ends = np.empty(n + m, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=run_ends[:-1])
    run_ends[-1] = True
    # n m (F_ref - F_cur) at the k-th merged value is s m - (k - s) n = s (n + m) - k n, s = reference values so
    # far: whole numbers, so D is exact and the same whichever side is called the reference.
    scaled = np.cumsum(order < n, dtype=np.int64)
    del order
    mood = _mood_p_value(scaled[run_ends], np.flatnonzero(run_ends), n, m) if with_mood else math.nan
    scaled *= n + m
    scaled -= np.arange(n, n * (n + m) + 1, n, dtype=np.int64)
    np.abs(scaled, out=scaled)
    distance = float(scaled[run_ends].max()) / (n * m)
    with np.errstate(invalid="ignore"):  # infinite values make an undefined area, as before
        wasserstein = float(np.dot(scaled[:-1], np.diff(merged))) / (n * m)
    return distance, wasserstein, mood


def _mood_p_value(reference_through: IntArray, run_last: IntArray, n: int, m: int) -> float:
    """Mood's two-sided test of equal spread from the merged sample's runs of ties; O(runs).

    ``reference_through`` counts reference values up to the end of each run, ``run_last`` is each run's last
    position (0-based). A merged position i (1-based) scores (i - (N + 1) / 2) squared; tied values share
    their run's mean score (Mielke's treatment of ties, as scipy's ``mood``). The statistic is the reference's
    score sum, whose mean and variance under a random split are exact for any scores, so ties and skew cost
    no calibration: the p-value is the normal law's. Distribution-free, unlike the Brown-Forsythe test, and
    the stronger of the two on skewed columns (a spread x1.5 on breast cancer at 100 rows a side).
    """
    total = n + m
    ends = run_last + 1
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1]
    length = (ends - starts).astype(np.float64)
    # The mean of (i - c)^2 over a run of whole numbers is its middle's square plus the run's own variance,
    # (L^2 - 1) / 12: closed form, no large cubes to subtract (their rounding would swamp a run's score).
    middle = (starts + ends - total) / 2
    mean_score = middle * middle + (length * length - 1) / 12
    del middle, starts, ends
    grand = (total * total - 1) / 12
    reference_in_run = np.diff(reference_through, prepend=0)
    statistic = float(np.dot(reference_in_run, mean_score)) - n * grand
    mean_score -= grand
    variance = n * m / (total * (total - 1)) * float(np.dot(length, mean_score * mean_score))
    if not variance > 0:
        return 1.0
    return float(2 * special.ndtr(-abs(statistic) / math.sqrt(variance)))


def cauchy_combination(p_values: Sequence[float]) -> float:
    """One p-value from several tests of the same hypothesis, valid whatever their dependence (Liu and Xie 2020).

    The mean of tan((1/2 - p) pi) is standard Cauchy under the null when the p-values are uniform, for any
    correlation between them (exactly when independent or perfectly dependent, and in the tail otherwise).
    Unlike Bonferroni over k tests it does not pay a factor k when the tests agree, and it is led by the
    smallest p-value when they do not. Tiny p-values use tan's pole, 1 / (p pi), to stay finite. A p-value
    near 1 makes a term near minus infinity that would cancel any evidence beside it (a pure shift of location
    leaves a spread test at p = 1), so p-values are capped at ``CAUCHY_CAP``: a term is then at least -31.8,
    and the level moves by far less than the benchmark can see (``benchmarks/drift_quality.py``).
    """
    values = np.clip(np.asarray(p_values, dtype=np.float64), 1e-300, CAUCHY_CAP)
    if values.size == 0:
        return 1.0
    with np.errstate(divide="ignore", over="ignore"):
        terms = np.where(values < 1e-15, 1.0 / (values * np.pi), np.tan((0.5 - values) * np.pi))
    mean = float(terms.mean())
    if mean > 1.0:
        # 1/2 - arctan(t)/pi rounds to 0 for large t; arctan(1/t)/pi keeps the digits.
        return float(np.arctan(1.0 / mean) / np.pi)
    return float(0.5 - np.arctan(mean) / np.pi)


def ks_p_value(distance: float, reference: FloatArray, current: FloatArray) -> float:
    """Two-sided KS p-value: exact for small samples, the asymptotic Kolmogorov law for large ones."""
    n, m = reference.size, current.size
    if n * m <= EXACT_KS_MAX_NM:
        # scipy.stats takes a second or more to import; only small samples need it, the rest uses scipy.special.
        from scipy import stats

        return float(stats.ks_2samp(reference, current, method="exact").pvalue)
    return kolmogorov_p_value(distance, n, m)


def spread_p_value(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """Brown-Forsythe test of equal spread: (current over reference mean absolute deviation, two-sided p-value).

    Both samples sorted. KS looks at the largest gap between the CDFs, which a change of spread around an
    unchanged median keeps small: noise of one standard deviation on ~100 rows a side is caught in about one
    split in eight. Comparing the mean absolute deviations from each side's median (a one-way ANOVA on them,
    robust to skew and heavy tails, unlike the F test on variances) catches it in four of five
    (``benchmarks/drift_quality.py``). Infinite values are left out; O(n) on sorted values.
    """
    left, right = _finite_slice(reference), _finite_slice(current)
    if left.size < 2 or right.size < 2:
        return math.nan, 1.0
    dev_left, dev_right = np.abs(left - _sorted_median(left)), np.abs(right - _sorted_median(right))
    mean_left, mean_right = float(dev_left.mean()), float(dev_right.mean())
    n, m = left.size, right.size
    grand = (n * mean_left + m * mean_right) / (n + m)
    within = float(np.var(dev_left)) * n + float(np.var(dev_right)) * m
    between = n * (mean_left - grand) ** 2 + m * (mean_right - grand) ** 2
    ratio = mean_right / mean_left if mean_left > 0 else math.nan
    if within <= 0:
        return ratio, 1.0 if between <= 0 else 0.0
    statistic = (n + m - 2) * between / within
    return ratio, float(special.fdtrc(1, n + m - 2, statistic))


def _finite_slice(sorted_values: FloatArray) -> FloatArray:
    """The finite part of a sorted array: a view, infinities sit at both ends."""
    low = int(np.searchsorted(sorted_values, -np.inf, side="right"))
    high = int(np.searchsorted(sorted_values, np.inf, side="left"))
    return sorted_values[low:high]


def _sorted_median(sorted_values: FloatArray) -> float:
    size = sorted_values.size
    return float(sorted_values[(size - 1) // 2] + sorted_values[size // 2]) / 2


def kolmogorov_p_value(distance: float, n: int, m: int) -> float:
    """Asymptotic two-sample p-value of D; conservative when D comes from binned CDFs (binning only lowers D)."""
    effective = n * m / (n + m)
    return float(special.kolmogorov(np.sqrt(effective) * distance))


def quantile_edges(sorted_values: FloatArray, n_bins: int) -> FloatArray:
    """Distinct interior bin edges at the reference's quantiles; bins are ``[edge_i, edge_i+1)``, open at both ends."""
    if sorted_values.size == 0:
        return np.empty(0, dtype=np.float64)
    positions = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    return np.unique(np.quantile(sorted_values, positions, method="inverted_cdf"))


def bin_counts(values: FloatArray, edges: FloatArray) -> IntArray:
    """How many values fall in each of the ``len(edges) + 1`` bins the edges define."""
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1).astype(np.int64)


def shares(counts: npt.NDArray[np.int64] | FloatArray) -> FloatArray:
    """Counts as shares floored at ``SHARE_FLOOR`` (all-zero counts give uniform shares)."""
    total = float(np.sum(counts))
    if total == 0:
        return np.full(len(counts), 1.0 / max(len(counts), 1))
    return np.maximum(np.asarray(counts, dtype=np.float64) / total, SHARE_FLOOR)


def psi(reference_counts: IntArray, current_counts: IntArray) -> float:
    """Population stability index over matching bins: sum of (cur - ref) * ln(cur / ref) on floored shares."""
    ref, cur = shares(reference_counts), shares(current_counts)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def js_distance(reference_counts: IntArray | FloatArray, current_counts: IntArray | FloatArray) -> float:
    """Jensen-Shannon distance (square root of the divergence, base 2, in [0, 1]) over matching bins."""
    total_ref, total_cur = float(reference_counts.sum()), float(current_counts.sum())
    if total_ref == 0 or total_cur == 0:
        return 0.0
    p = reference_counts / total_ref
    q = current_counts / total_cur
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mid), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / mid), 0.0)
    divergence = max(float(0.5 * (kl_p.sum() + kl_q.sum())), 0.0)
    return float(np.sqrt(min(divergence, 1.0)))


def binned_ks(reference_counts: IntArray, current_counts: IntArray) -> float:
    """Largest gap between the two CDFs at the bin edges (a lower bound of the raw-sample KS distance)."""
    ref = np.cumsum(reference_counts) / max(int(reference_counts.sum()), 1)
    cur = np.cumsum(current_counts) / max(int(current_counts.sum()), 1)
    return float(np.abs(ref - cur).max()) if ref.size else 0.0


def pool_rare(reference_counts: IntArray, current_counts: IntArray) -> tuple[FloatArray, FloatArray]:
    """The 2 x k table with cells whose expected count is < 5 pooled into one (Cochran's rule).

    Which cells are rare is decided from both sides' counts together, never from one side: under no drift
    the split of a value's occurrences between the sides is then independent of whether it got its own
    cell, so the pooled test keeps its level on columns with hundreds of rare values. A pooled cell that is
    still rare joins the smallest other cell. Empty cells are dropped.
    """
    table = np.vstack((reference_counts, current_counts)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or np.any(rows == 0):
        return table[0], table[1]
    expected_min = np.outer(rows, table.sum(axis=0)).min(axis=0) / rows.sum()
    rare = expected_min < MIN_EXPECTED
    if rare.any():
        pooled = table[:, rare].sum(axis=1, keepdims=True)
        table = np.hstack((table[:, ~rare], pooled))
        pooled_expected = rows.min() * pooled.sum() / rows.sum()
        if pooled_expected < MIN_EXPECTED and table.shape[1] > 2:
            smallest = int(np.argmin(table[:, :-1].sum(axis=0)))
            table[:, smallest] += table[:, -1]
            table = table[:, :-1]
    return table[0], table[1]


def chi_square(reference_counts: FloatArray, current_counts: FloatArray) -> tuple[float, float]:
    """Chi-square test of homogeneity on a 2 x k table, as given; (0, 1) when there is nothing to compare."""
    table = np.vstack((reference_counts, current_counts)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or np.any(rows == 0):
        return 0.0, 1.0
    expected = np.outer(rows, table.sum(axis=0)) / rows.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(special.chdtrc(table.shape[1] - 1, statistic))


def chi_square_pooled(reference_counts: IntArray, current_counts: IntArray) -> tuple[float, float]:
    """Chi-square test of homogeneity after pooling rare cells (``pool_rare``); returns (statistic, p-value)."""
    return chi_square(*pool_rare(reference_counts, current_counts))


def two_proportion_p_value(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided pooled z-test that k1/n1 and k2/n2 share one rate; None when neither side has a case."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (k1 + k2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return None
    z = (k1 / n1 - k2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(2 * special.ndtr(-abs(z)))


def unseen_p_value(unseen: int, current: int, singletons: int, reference: int) -> tuple[float, float]:
    """Test whether more current values are unseen than the reference's missing mass predicts.

    Good-Turing: the chance that a new draw from the reference's distribution is a value the reference never
    showed is about (singletons + 1) / (n + 1). Returns (that expected share, one-sided binomial p-value).
    """
    expected = min((singletons + 1) / (reference + 1), 1.0)
    if unseen == 0:
        return expected, 1.0
    return expected, float(special.bdtrc(unseen - 1, current, expected))


def unseen_split_p_value(reference_counts: IntArray, current_counts: IntArray) -> tuple[float, float]:
    """Test whether more current rows hold values the reference lacks than a random split would put there.

    Both arguments count every value of either side, aligned (zero where a side lacks the value). Under no
    drift a row is on the current side with chance q = m / (n + m) whatever its value, so a value seen k times
    in all is missing from the reference with chance q**k, taking its k rows with it. The unseen row count
    is then a sum of independent weighted coin flips (a binomial stand-in for the hypergeometric split, whose
    chances q**k overstate slightly, so the test errs towards calm). Nothing is estimated from one side
    alone: holding a Good-Turing estimate of the unseen share as if it were known alarms on random splits of
    columns with hundreds of values, because that estimate is as noisy as the share it is compared with.
    The one-sided p-value is that sum's exact tail (``_weighted_coins_tail``) when it is cheap, else the
    normal law's: see there why the normal law alone is not enough.
    Returns (the expected unseen share, the p-value).
    """
    n, m = int(reference_counts.sum()), int(current_counts.sum())
    if n == 0 or m == 0:
        return 0.0, 1.0
    total = (reference_counts + current_counts).astype(np.float64)
    total = total[total > 0]
    q = m / (n + m)
    chance = np.power(q, total)
    mean = float(np.dot(total, chance))
    observed = int(current_counts[reference_counts == 0].sum())
    if observed == 0:
        return mean / m, 1.0
    weights, counts = np.unique(total.astype(np.int64), return_counts=True)
    return mean / m, _weighted_coins_tail(weights, counts, np.power(q, weights.astype(np.float64)), observed)


def _weighted_coins_tail(weights: IntArray, counts: IntArray, chances: FloatArray, observed: int) -> float:
    """P(sum over groups of weight * Binomial(count, chance) >= observed), for whole-number weights.

    Exact by dynamic programming over the sums below ``observed`` when ``observed`` is at most
    ``EXACT_UNSEEN_MAX_ROWS`` and the work (distinct weights times ``observed``) at most
    ``EXACT_UNSEEN_MAX_WORK``, else the normal law with a continuity correction. The normal law alone was
    wrong where it mattered: when few values are likely to be unseen but each would bring many rows (a code
    column of a few hundred values at a thousand rows a side, each value seen about ten times), the sum is a
    rare, lumpy event and the normal tail is several times too thin; such a column's test fired on 15 of 73
    random samples that had an unseen value, at alpha 0.05 (``benchmarks/drift_quality.py --null-sizes``).
    Where the exact sum is too dear, ``observed`` is large, which under no drift takes many contributing
    values, where the normal law holds.
    """
    live = chances > 0
    weights, counts, chances = weights[live], counts[live], chances[live]
    if observed > EXACT_UNSEEN_MAX_ROWS or weights.size * observed > EXACT_UNSEEN_MAX_WORK:
        mean = float(np.dot(weights * counts, chances))
        variance = float(np.dot(weights.astype(np.float64) ** 2 * counts, chances * (1 - chances)))
        if variance <= 0:
            return 1.0 if observed <= mean else 0.0
        return float(special.ndtr(-(observed - mean - 0.5) / math.sqrt(variance)))
    below = np.zeros(observed, dtype=np.float64)  # P(partial sum = s) for s < observed
    below[0] = 1.0
    remaining = observed - np.arange(observed)
    escaped = 0.0  # P(partial sum >= observed): every term is >= 0, so a sum that got there stays there
    for weight, count, chance in zip(weights.tolist(), counts.tolist(), chances.tolist(), strict=True):
        # Summed as positive terms (not 1 - P(below)), so a tiny tail keeps its digits. P(J >= j) is looked up
        # for the at most count + 2 values of j, not computed for every partial sum.
        needed = np.minimum(-(-remaining // weight), count + 1)  # more than count is out of reach: chance 0
        at_least = special.bdtrc(np.arange(-1, count + 1), count, chance)
        # A product and a sum, not np.dot: BLAS's threads made each call ~100x slower on a busy machine.
        escaped += float((below * at_least[needed]).sum())
        most = min(count, (observed - 1) // weight)
        below = _add_binomial(below, weight, _binomial_pmf(count, chance, most))
    return min(escaped, 1.0)


def _binomial_pmf(count: int, chance: float, most: int) -> FloatArray:
    """P(Binomial(count, chance) = j) for j = 0..most."""
    j = np.arange(most + 1, dtype=np.float64)
    log_pmf = (
        special.gammaln(count + 1)
        - special.gammaln(j + 1)
        - special.gammaln(count - j + 1)
        + j * math.log(chance)
        + (count - j) * math.log1p(-chance)
    )
    return np.asarray(np.exp(log_pmf), dtype=np.float64)


def _add_binomial(below: FloatArray, weight: int, pmf: FloatArray) -> FloatArray:
    """The distribution of partial sum + weight * J (J with ``pmf``), kept below ``below.size``."""
    size = below.size
    if pmf.size <= 64:
        out = below * pmf[0]
        for j in range(1, pmf.size):
            out[j * weight :] += pmf[j] * below[: size - j * weight]
        return np.asarray(out, dtype=np.float64)
    kernel = np.zeros((pmf.size - 1) * weight + 1, dtype=np.float64)
    kernel[::weight] = pmf
    length = 1 << (size + kernel.size - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(below, length) * np.fft.rfft(kernel, length), length)[:size]
    # The transform's rounding leaves tiny negatives where the mass is 0.
    return np.asarray(np.maximum(out, 0.0), dtype=np.float64)


def rank_sum_greater_p_value(reference: FloatArray, current: FloatArray) -> float:
    """One-sided Wilcoxon rank-sum test that current values run larger than reference ones; both given sorted.

    The Mann-Whitney count of (reference, current) pairs with the current value larger (ties count a half),
    against its exact mean and tie-corrected variance under a random split, by the normal law with a
    continuity correction. O((n + m) log(n + m)); 1.0 when every value is tied.
    """
    n, m = reference.size, current.size
    if n == 0 or m == 0:
        return 1.0
    below = np.searchsorted(reference, current, side="left")
    tied = np.searchsorted(reference, current, side="right") - below
    larger_pairs = float(below.sum()) + 0.5 * float(tied.sum())
    total = n + m
    _, runs = np.unique(np.concatenate((reference, current)), return_counts=True)
    ties = float(np.sum(runs.astype(np.float64) ** 3 - runs))
    variance = n * m / 12 * ((total + 1) - ties / (total * (total - 1)))
    if not variance > 0:
        return 1.0
    z = (larger_pairs - n * m / 2 - 0.5) / math.sqrt(variance)
    return float(special.ndtr(-z))


def adjust(p_values: FloatArray, correction: Correction) -> FloatArray:
    """Adjusted p-values: Benjamini-Hochberg (step-up, monotone) or Bonferroni; compare them with alpha."""
    m = p_values.size
    if m == 0:
        return p_values.copy()
    if correction == "bonferroni":
        return np.minimum(p_values * m, 1.0)
    order = np.argsort(p_values)
    scaled = p_values[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(monotone, 1.0)
    return adjusted
