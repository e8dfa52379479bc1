"""Comparison statistics: a variant's outputs against the baseline's, and both against outcomes.

All bounds are one-sided at the given confidence. Paired design: the same request through both models.

* agreement (top-1): Wilson (1927) score bound, or Clopper-Pearson (1934) exact bound;
* accuracy loss against outcomes: Newcombe's (1998, method 10) hybrid score interval for a difference of
  paired proportions, which stays inside [-1, 1] and behaves near 0 and 1, unlike the Wald interval;
* regressors: mean absolute error against the baseline, with a seeded percentile bootstrap (Efron 1979);
* probabilities: max absolute difference and mean KL(baseline || variant).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from shadow.tensors import Array

Task = Literal["classification", "regression"]
_KL_EPS = 1e-7


def _z(confidence: float) -> float:
    """The one-sided normal quantile for ``confidence``."""
    if not 0.5 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0.5, 1), got {confidence}")
    return float(special.ndtri(confidence))  # stats.norm.ppf's value, without its ~0.1 ms of call overhead


def wilson_interval(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for k successes of n at normal quantile ``z`` (two ends)."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def wilson_lower(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Wilson lower bound on a proportion."""
    return wilson_interval(k, n, _z(confidence))[0]


def wilson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Wilson upper bound on a proportion."""
    return wilson_interval(k, n, _z(confidence))[1]


def clopper_pearson_lower(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) lower bound on a proportion."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    return 0.0 if k == 0 else float(stats.beta.ppf(1 - confidence, k, n - k + 1))


def newcombe_paired_difference(a: int, b: int, c: int, d: int, confidence: float = 0.95) -> tuple[float, float]:
    """One-sided bounds (lower, upper) on p1 - p2 for paired binary outcomes (Newcombe 1998, method 10).

    ``a``: both right, ``b``: first right and second wrong, ``c``: first wrong and second right, ``d``: both
    wrong. With the baseline first, p1 - p2 is the accuracy the variant loses.
    """
    n = a + b + c + d
    if n <= 0 or min(a, b, c, d) < 0:
        raise ValueError(f"counts must be >= 0 with a positive total, got {(a, b, c, d)}")
    z = _z(confidence)
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, z)
    l2, u2 = wilson_interval(a + c, n, z)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(margins) if margins else 0.0
    delta = p1 - p2
    lower = delta - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = delta + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, lower), min(1.0, upper)


def bootstrap_mean_bounds(
    values: NDArray[np.float64], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """One-sided percentile-bootstrap bounds (lower, upper) on the mean of ``values``."""
    if values.size == 0:
        raise ValueError("`values` must not be empty")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    return float(np.quantile(means, 1 - confidence)), float(np.quantile(means, confidence))


@dataclass(frozen=True)
class AgreementStats:
    """Top-1 agreement with the baseline."""

    n: int
    agree: int
    rate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class AccuracyStats:
    """Accuracy of baseline and variant against known outcomes, and bounds on the variant's loss (fraction)."""

    n: int
    baseline: float
    variant: float
    flips_lost: int
    flips_gained: int
    loss: float
    loss_lower: float
    loss_upper: float


@dataclass(frozen=True)
class ProbabilityStats:
    """How far the variant's class probabilities moved."""

    max_abs_diff: float
    mean_kl: float


@dataclass(frozen=True)
class RegressionStats:
    """Error of the variant against the baseline's outputs."""

    n: int
    mae: float
    mae_lower: float
    mae_upper: float
    baseline_std: float

    def normalized(self, value: float) -> float:
        """An error over the baseline outputs' standard deviation (0 or infinity if they are constant)."""
        if self.baseline_std > 0:
            return value / self.baseline_std
        return 0.0 if value == 0 else math.inf


@dataclass(frozen=True)
class SliceStats:
    """Quality on one slice of the requests (a predicted class, or a quantile bin of one feature).

    Its bounds are at the slice confidence: the run's per-bound confidence, Bonferroni-corrected again over
    every slice that was examined (``SliceOptions``), since a variant is kept when any one slice fails.
    """

    name: str
    kind: Literal["class", "category", "feature_bin"]
    n: int
    agreement: AgreementStats | None = None
    accuracy: AccuracyStats | None = None
    regression: RegressionStats | None = None


@dataclass(frozen=True)
class SliceOptions:
    """How requests are sliced: quantile bins per numeric feature, how many features to show, how many to scan."""

    bins: int = 4
    shown_features: int = 3
    max_features: int = 256

    def __post_init__(self) -> None:
        for name in ("bins", "shown_features", "max_features"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class Comparison:
    """Quality of one variant against the baseline, as far as the task allows."""

    task: Task
    n: int
    agreement: AgreementStats | None = None
    accuracy: AccuracyStats | None = None
    probabilities: ProbabilityStats | None = None
    regression: RegressionStats | None = None
    slices: tuple[SliceStats, ...] = ()
    # The confidence of each slice's bounds, after the correction over every slice examined.
    slice_confidence: float | None = None


def agreement_stats(baseline: Array, variant: Array, confidence: float) -> AgreementStats:
    """Agreement of two label arrays with Wilson bounds."""
    n = len(baseline)
    agree = int(np.count_nonzero(baseline == variant))
    lower, upper = wilson_interval(agree, n, _z(confidence))
    return AgreementStats(n, agree, agree / n, lower, upper)


def accuracy_stats(baseline: Array, variant: Array, truth: Array, confidence: float) -> AccuracyStats:
    """Paired accuracy against outcomes; the loss is baseline minus variant accuracy, as a fraction."""
    right_b, right_v = baseline == truth, variant == truth
    a = int(np.count_nonzero(right_b & right_v))
    b = int(np.count_nonzero(right_b & ~right_v))
    c = int(np.count_nonzero(right_v & ~right_b))
    n = len(truth)
    lower, upper = newcombe_paired_difference(a, b, c, n - a - b - c, confidence)
    return AccuracyStats(n, (a + b) / n, (a + c) / n, b, c, (b - c) / n, lower, upper)


def probability_stats(baseline: Array, variant: Array) -> ProbabilityStats:
    """Max |p - p'| over all rows and classes, and the mean KL divergence of the variant from the baseline."""
    p = np.clip(np.asarray(baseline, dtype=np.float64), _KL_EPS, 1.0)
    q = np.clip(np.asarray(variant, dtype=np.float64), _KL_EPS, 1.0)
    # KL is >= 0 only between distributions: rows that sum to 1.001 (a float16 softmax) or that clipping moved
    # would give negative divergences, so both are renormalised, and rounding below 0 is 0.
    p /= p.sum(axis=-1, keepdims=True)
    q /= q.sum(axis=-1, keepdims=True)
    kl = np.maximum(np.sum(p * np.log(p / q), axis=-1), 0.0)
    return ProbabilityStats(float(np.max(np.abs(baseline - variant))), float(np.mean(kl)))


def regression_stats(baseline: Array, variant: Array, confidence: float, seed: int = 0) -> RegressionStats:
    """MAE of the variant against the baseline (per request, averaged over outputs) with a bootstrap bound."""
    rows = baseline.shape[0]
    errors = np.abs(variant.astype(np.float64) - baseline.astype(np.float64)).reshape(rows, -1).mean(axis=1)
    lower, upper = bootstrap_mean_bounds(errors, confidence, seed=seed)
    return RegressionStats(rows, float(errors.mean()), lower, upper, float(np.std(baseline.astype(np.float64))))


def looks_like_probabilities(array: Array) -> bool:
    """A 2-D float output whose rows lie in [0, 1] and sum to 1: class probabilities."""
    if array.ndim != 2 or array.dtype.kind != "f" or array.shape[1] < 2:
        return False
    return bool(np.all(array >= -1e-6) and np.all(array <= 1 + 1e-6) and np.allclose(array.sum(axis=1), 1, atol=1e-3))


def infer_task(outputs: dict[str, Array]) -> Task:
    """Classification when an output holds labels or class probabilities; regression otherwise."""
    for array in outputs.values():
        if array.dtype.kind in {"i", "u", "U", "O", "S", "b"} or looks_like_probabilities(array):
            return "classification"
    return "regression"


def top1_labels(outputs: dict[str, Array]) -> Array:
    """Predicted labels: a 1-D label output if there is one, else the arg-max of the first 2-D float output.

    Left in the model's own type (ints, strings), so agreement is one array comparison; only the rows with a
    known outcome are turned into text to meet the recorded labels.
    """
    for array in outputs.values():
        if array.ndim == 1 and array.dtype.kind in {"i", "u", "U", "O", "S", "b"}:
            return array
    for array in outputs.values():
        if array.ndim == 2 and array.dtype.kind == "f":
            top: Array = np.argmax(array, axis=1)
            return top
    raise ValueError(f"no output holds labels or scores: {sorted(outputs)}")


def _probabilities(outputs: dict[str, Array]) -> Array | None:
    """The class-probability output, if the model has one."""
    return next((array for array in outputs.values() if looks_like_probabilities(array)), None)


def regression_output(outputs: dict[str, Array]) -> Array:
    """The first float output: what a regressor predicts."""
    for array in outputs.values():
        if array.dtype.kind == "f":
            return array
    raise ValueError(f"no float output to compare as a regression: {sorted(outputs)}")


def compare_outputs(
    task: Task,
    baseline: dict[str, Array],
    variant: dict[str, Array],
    truth: Sequence[str | float | None],
    *,
    confidence: float,
    seed: int = 0,
    features: Array | None = None,
    slice_options: SliceOptions | None = None,
    categories: Mapping[str, Array] | None = None,
) -> Comparison:
    """Compare a variant's outputs with the baseline's on the same requests (rows align by position).

    With ``slice_options``, quality is also computed per slice: per predicted class, per value of each of
    ``categories`` (one label per request, e.g. a country), and per quantile bin of each column of
    ``features`` (one row of numbers per request).
    """
    if task == "regression":
        base, var = regression_output(baseline), regression_output(variant)
        regression = regression_stats(base, var, confidence, seed)
        slices, slice_confidence = (
            _regression_slices(
                base,
                var,
                features,
                categories or {},
                confidence=confidence,
                options=slice_options,
                seed=seed,
                std=regression.baseline_std,
            )
            if slice_options is not None
            else ((), None)
        )
        return Comparison(task, base.shape[0], regression=regression, slices=slices, slice_confidence=slice_confidence)
    base_labels, var_labels = top1_labels(baseline), top1_labels(variant)
    agreement = agreement_stats(base_labels, var_labels, confidence)
    known = [i for i, t in enumerate(truth) if isinstance(t, str)]
    accuracy = None
    if known:
        labels = np.array([truth[i] for i in known], dtype=str)
        accuracy = accuracy_stats(base_labels[known].astype(str), var_labels[known].astype(str), labels, confidence)
    base_p, var_p = _probabilities(baseline), _probabilities(variant)
    probabilities = probability_stats(base_p, var_p) if base_p is not None and var_p is not None else None
    slices, slice_confidence = _class_and_feature_slices(
        base_labels, var_labels, truth, features, categories or {}, confidence=confidence, options=slice_options
    )
    return Comparison(
        task, len(base_labels), agreement, accuracy, probabilities, slices=slices, slice_confidence=slice_confidence
    )


def _feature_bins(features: Array | None, options: SliceOptions) -> list[tuple[int, str, Array]]:
    """(feature index, bin name, rows) for every quantile bin of every numeric feature scanned.

    Bins are right-open, the last one closed, so each row is in exactly one; a constant feature has none.
    """
    if features is None or features.ndim != 2 or features.dtype.kind not in "fiub" or features.shape[0] == 0:
        return []
    columns = features[:, : options.max_features].astype(np.float64)
    # One quantile call for every column: per column, it was most of a look's slicing time.
    all_edges = np.quantile(columns, np.linspace(0, 1, options.bins + 1), axis=0)
    found: list[tuple[int, str, Array]] = []
    for j in range(columns.shape[1]):
        edges = np.unique(all_edges[:, j])
        if len(edges) < 2:
            continue
        which = np.clip(np.searchsorted(edges, columns[:, j], side="right") - 1, 0, len(edges) - 2)
        order = np.argsort(which, kind="stable")
        starts = np.searchsorted(which[order], np.arange(len(edges)))
        found += [
            (j, f"in [{edges[k]:.4g}, {edges[k + 1]:.4g}]", np.sort(order[starts[k] : starts[k + 1]]))
            for k in range(len(edges) - 1)
        ]
    return found


def _feature_slices(
    bins: list[tuple[int, str, Array]],
    badness: Array,
    confidence: float,
    options: SliceOptions,
    stats_at: Callable[[Array, float], SliceStats],
    *,
    examined_before: int = 0,
) -> tuple[tuple[SliceStats, ...], float | None]:
    """Quantile-bin slices of every feature, at a confidence corrected over every slice examined.

    Every bin counts in the correction; the result holds the bins of the ``shown_features`` features where
    ``badness`` (disagreement, error) concentrates most: a bin that fails has a high rate, so its feature is
    among them, and a wide model does not list hundreds of unremarkable bins.
    """
    examined = examined_before + len(bins)
    if examined == 0:
        return (), None
    slice_confidence = 1 - (1 - confidence) / examined
    worst: dict[int, float] = {}
    for j, _, rows in bins:
        worst[j] = max(worst.get(j, 0.0), float(badness[rows].mean()))
    shown = set(sorted(worst, key=lambda j: -worst[j])[: options.shown_features])
    slices: list[SliceStats] = []
    for j, name, rows in bins:
        if j in shown:
            stats = stats_at(rows, slice_confidence)
            slices.append(
                SliceStats(
                    f"feature {j} {name}", "feature_bin", stats.n, stats.agreement, stats.accuracy, stats.regression
                )
            )
    return tuple(slices), slice_confidence


def _regression_slices(
    base: Array,
    var: Array,
    features: Array | None,
    categories: Mapping[str, Array],
    *,
    confidence: float,
    options: SliceOptions,
    seed: int,
    std: float,
) -> tuple[tuple[SliceStats, ...], float | None]:
    """MAE per feature bin, normalised by the whole traffic's baseline spread (a slice's own can be near 0)."""
    errors = np.abs(var.astype(np.float64) - base.astype(np.float64)).reshape(base.shape[0], -1).mean(axis=1)

    def stats_at(rows: Array, level: float) -> SliceStats:
        lower, upper = bootstrap_mean_bounds(errors[rows], level, seed=seed)
        regression = RegressionStats(len(rows), float(errors[rows].mean()), lower, upper, std)
        return SliceStats("", "feature_bin", len(rows), regression=regression)

    groups = _category_groups(categories)
    bins = _feature_bins(features, options)
    examined = len(groups) + len(bins)
    level = 1 - (1 - confidence) / max(examined, 1)
    named = [_named(stats_at(rows, level), name, "category") for name, rows in groups]
    # An error that is not exactly 0 is not a disagreement; rank and list by the error itself.
    binned, _ = _feature_slices(bins, errors, confidence, options, stats_at, examined_before=len(groups))
    return (*named, *binned), (level if examined else None)


def _category_groups(categories: Mapping[str, Array]) -> list[tuple[str, Array]]:
    """``name = value`` and its rows, for every value of every categorical slice_by column."""
    groups = []
    for name, values in categories.items():
        labels = np.asarray(values, dtype=str)
        groups += [(f"{name} = {value}", np.flatnonzero(labels == value)) for value in np.unique(labels)]
    return groups


def _named(stats: SliceStats, name: str, kind: Literal["class", "category", "feature_bin"]) -> SliceStats:
    return SliceStats(name, kind, stats.n, stats.agreement, stats.accuracy, stats.regression)


def _class_and_feature_slices(
    base_labels: Array,
    var_labels: Array,
    truth: Sequence[str | float | None],
    features: Array | None,
    categories: Mapping[str, Array],
    *,
    confidence: float,
    options: SliceOptions | None,
) -> tuple[tuple[SliceStats, ...], float | None]:
    """Per predicted class (the baseline's prediction), per slice_by value, then per quantile bin of the features."""
    if options is None:
        return (), None
    classes = np.unique(base_labels)
    groups = _category_groups(categories)
    bins = _feature_bins(features, options)
    examined = len(classes) + len(groups) + len(bins)
    slice_confidence = 1 - (1 - confidence) / max(examined, 1)
    truth_text = np.array([t if isinstance(t, str) else "" for t in truth], dtype=object)
    known = np.array([isinstance(t, str) for t in truth], dtype=bool)

    def stats_at(rows: Array, level: float) -> SliceStats:
        agreement = agreement_stats(base_labels[rows], var_labels[rows], level) if len(rows) else None
        rows_known = rows[known[rows]] if len(rows) else rows
        accuracy = None
        if len(rows_known):
            accuracy = accuracy_stats(
                base_labels[rows_known].astype(str),
                var_labels[rows_known].astype(str),
                truth_text[rows_known].astype(str),
                level,
            )
        return SliceStats("", "class", len(rows), agreement, accuracy)

    slices = []
    for label in classes:
        stats = stats_at(np.flatnonzero(base_labels == label), slice_confidence)
        slices.append(SliceStats(f"predicted class {label}", "class", stats.n, stats.agreement, stats.accuracy))
    slices += [_named(stats_at(rows, slice_confidence), name, "category") for name, rows in groups]
    disagree = (base_labels != var_labels).astype(np.float64)
    features_slices, _ = _feature_slices(
        bins, disagree, confidence, options, stats_at, examined_before=len(classes) + len(groups)
    )
    return (*slices, *features_slices), slice_confidence
