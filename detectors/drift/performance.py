"""Performance drift: how well a model does against the outcomes that have arrived, with confidence intervals.

Classifiers: accuracy (Wilson interval), macro F1 and, for two classes with scores, ROC AUC (both with
percentile-bootstrap intervals). Regressors: MAE and RMSE (bootstrap intervals). Intervals are 95%.

The decision compares a window with the reference on one primary metric, one-sided (only getting worse
matters): classifiers by accuracy with a two-proportion z-test, regressors by mean absolute error with
Welch's t-test. A window drifts when the test is significant at ``alpha`` *and* the loss is at least
``min_loss`` (accuracy points, or MAE relative to the reference's), so a statistically certain but
negligible change on a huge window does not page anyone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

Task = Literal["classification", "regression"]
FloatArray = npt.NDArray[np.float64]

Z_95: Final = 1.959963984540054
BOOTSTRAP_RESAMPLES: Final = 200
MIN_OUTCOMES: Final = 30


@dataclass(frozen=True)
class Metric:
    """One metric with its 95% confidence interval."""

    name: str
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Performance:
    """Metrics over ``count`` predictions with known outcomes, and what the drift test needs."""

    task: Task
    count: int
    metrics: tuple[Metric, ...]
    # Classification: correct predictions; regression: mean and standard deviation of absolute errors.
    correct: int = 0
    abs_error_mean: float = 0.0
    abs_error_std: float = 0.0

    def metric(self, name: str) -> Metric | None:
        """The metric of that name, if computed."""
        return next((metric for metric in self.metrics if metric.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return {
            "task": self.task,
            "count": self.count,
            "metrics": [{"name": m.name, "value": m.value, "low": m.low, "high": m.high} for m in self.metrics],
            "correct": self.correct,
            "abs_error_mean": self.abs_error_mean,
            "abs_error_std": self.abs_error_std,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Performance:
        """Read what ``to_dict`` wrote."""
        task: Task = "regression" if raw["task"] == "regression" else "classification"
        metrics = tuple(Metric(str(m["name"]), m["value"], m["low"], m["high"]) for m in raw["metrics"])
        return cls(task, int(raw["count"]), metrics, int(raw["correct"]), raw["abs_error_mean"], raw["abs_error_std"])


@dataclass(frozen=True)
class PerformanceDrift:
    """The verdict on a window's performance against the reference's."""

    metric: str
    reference: float
    current: float
    loss: float
    p_value: float
    drifted: bool


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _bootstrap(statistic: Callable[[npt.NDArray[np.int64]], float], n: int, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap 95% interval of ``statistic(indices)`` over resampled row indices."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, n)) for _ in range(BOOTSTRAP_RESAMPLES)]
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [0.025, 0.975])
    return float(low), float(high)


def macro_f1(predicted: npt.NDArray[np.str_], actual: npt.NDArray[np.str_]) -> float:
    """The unweighted mean of per-class F1 over the classes that occur in either."""
    classes = np.union1d(predicted, actual)
    scores = []
    for label in classes.tolist():
        true_positive = int(np.sum((predicted == label) & (actual == label)))
        predicted_count = int(np.sum(predicted == label))
        actual_count = int(np.sum(actual == label))
        denominator = predicted_count + actual_count
        scores.append(2 * true_positive / denominator if denominator else 0.0)
    return float(np.mean(scores)) if scores else math.nan


def roc_auc(scores: FloatArray, positive: npt.NDArray[np.bool_]) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; NaN when one class is absent."""
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    from scipy.stats import rankdata  # lazily: scipy.stats costs every CLI command a second at start-up

    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_performance(
    predicted: Sequence[str],
    actual: Sequence[str],
    positive: Sequence[tuple[str, float] | None] | None = None,
    seed: int = 0,
) -> Performance:
    """Accuracy, macro F1 and (two classes with scores) ROC AUC of predicted against actual labels."""
    if len(predicted) != len(actual):
        raise ValueError(f"`predicted` has {len(predicted)} labels and `actual` {len(actual)}")
    pred, true = np.asarray(predicted, dtype=str), np.asarray(actual, dtype=str)
    n = int(pred.size)
    correct = int(np.sum(pred == true))
    low, high = wilson_interval(correct, n)
    metrics = [Metric("accuracy", correct / n if n else math.nan, low, high)]
    f1 = macro_f1(pred, true)
    metrics.append(Metric("f1_macro", f1, *_bootstrap(lambda i: macro_f1(pred[i], true[i]), n, seed)))
    if positive is not None and n and all(item is not None for item in positive):
        labels = {item[0] for item in positive if item is not None}
        if len(labels) == 1 and set(true.tolist()) <= labels | set(pred.tolist()):
            label = labels.pop()
            scores = np.asarray([item[1] for item in positive if item is not None], dtype=np.float64)
            is_positive = true == label
            auc = roc_auc(scores, is_positive)
            if math.isfinite(auc):
                interval = _bootstrap(lambda i: roc_auc(scores[i], is_positive[i]), n, seed)
                metrics.append(Metric("roc_auc", auc, *interval))
    return Performance("classification", n, tuple(metrics), correct=correct)


def regression_performance(predicted: Sequence[float], actual: Sequence[float], seed: int = 0) -> Performance:
    """MAE and RMSE of predicted against actual values."""
    if len(predicted) != len(actual):
        raise ValueError(f"`predicted` has {len(predicted)} values and `actual` {len(actual)}")
    errors = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    n = int(errors.size)
    absolute = np.abs(errors)
    mae = float(absolute.mean()) if n else math.nan
    rmse = float(np.sqrt(np.mean(errors**2))) if n else math.nan
    metrics = (
        Metric("mae", mae, *_bootstrap(lambda i: float(absolute[i].mean()), n, seed)),
        Metric("rmse", rmse, *_bootstrap(lambda i: float(np.sqrt(np.mean(errors[i] ** 2))), n, seed)),
    )
    std = float(absolute.std(ddof=1)) if n > 1 else 0.0
    return Performance("regression", n, metrics, abs_error_mean=mae, abs_error_std=std)


def compare_performance(
    reference: Performance, current: Performance, alpha: float = 0.05, min_loss: float = 0.01
) -> PerformanceDrift:
    """Whether ``current`` is worse than ``reference`` on the primary metric (see the module docstring)."""
    if reference.task != current.task:
        raise ValueError(f"cannot compare {reference.task} performance with {current.task} performance")
    if reference.task == "classification":
        ref_acc, cur_acc = reference.correct / reference.count, current.correct / current.count
        pooled = (reference.correct + current.correct) / (reference.count + current.count)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / reference.count + 1 / current.count))
        # One-sided: only a lower accuracy now is drift.
        p_value = (
            float(special.ndtr(-(ref_acc - cur_acc) / spread)) if spread > 0 else (0.0 if cur_acc < ref_acc else 1.0)
        )
        loss = ref_acc - cur_acc
        return PerformanceDrift("accuracy", ref_acc, cur_acc, loss, p_value, p_value < alpha and loss >= min_loss)
    ref_mae, cur_mae = reference.abs_error_mean, current.abs_error_mean
    variance = reference.abs_error_std**2 / reference.count + current.abs_error_std**2 / current.count
    if variance > 0:
        p_value = _welch_sf((cur_mae - ref_mae) / math.sqrt(variance), reference, current)
    else:
        p_value = 0.0 if cur_mae > ref_mae else 1.0
    # Relative to the reference's error; a perfect reference (MAE 0) leaves only the absolute change.
    loss = (cur_mae - ref_mae) / ref_mae if ref_mae > 0 else cur_mae - ref_mae
    return PerformanceDrift("mae", ref_mae, cur_mae, loss, p_value, p_value < alpha and loss >= min_loss)


def _welch_sf(t: float, reference: Performance, current: Performance) -> float:
    """Upper tail of Welch's t with the Welch-Satterthwaite degrees of freedom."""
    a = reference.abs_error_std**2 / reference.count
    b = current.abs_error_std**2 / current.count
    dof = (a + b) ** 2 / ((a * a) / max(reference.count - 1, 1) + (b * b) / max(current.count - 1, 1))
    return float(special.stdtr(dof, -t))
