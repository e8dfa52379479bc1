"""The switch recommendation: non-inferiority on quality, and a latency or cost gain, both with margins.

Rule, per variant, with every bound one-sided at the run's adjusted confidence:

* quality passes when the agreement lower bound >= ``min_agreement_lower_bound`` or (with outcomes) the
  accuracy-loss upper bound <= ``max_accuracy_loss_points``; regressors: the bootstrap upper bound of MAE
  against the baseline, over the baseline outputs' standard deviation, <= ``max_regression_error``. It fails
  when the opposite bounds already exclude the margin; otherwise it is inconclusive (not enough traffic);
* gain passes when the upper bound of the median per-request latency ratio (variant / baseline, paired by
  request; an exact order-statistic bound) is <= 1 - ``min_improvement``, or when the cost per 1k
  predictions improves by ``min_improvement`` even comparing the variant's slowest throughput round with the
  baseline's fastest. Nothing else counts as a speed-up, so no claim is made that was not measured;
* a variant on other hardware than the baseline's (a GPU provider) needs a price for both classes: without
  one, being faster does not show that it pays, and it is kept as ``unpriced`` (see shadow.hardware);
* switch needs both; the best switchable variant (largest improvement) is recommended.

Sequential stopping: the replay is cut into ``looks`` equal chunks; after each, a variant is settled when
quality has failed, when the gain is disproven (latency bound past the margin and cost, measured before the
looks, no better), or when quality has passed and the gain is proven. Once every variant is settled, replay
stops. Peeking is paid for with Bonferroni: every bound, at every look, uses alpha / (looks x variants)
(``adjusted_confidence``), so the chance of a wrong switch stays below alpha overall.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from shadow.compare import Comparison
from shadow.replay import Measurement

Decision = Literal["switch", "keep"]
KeepReason = Literal["quality", "no_gain", "unpriced", "not_enough_traffic", "no_variant"]
Status = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Margins:
    """Non-inferiority margins and the minimum gain; defaults from issue 7."""

    min_agreement_lower_bound: float = 0.99
    max_accuracy_loss_points: float = 0.5
    max_regression_error: float = 0.05
    min_improvement: float = 0.10
    confidence: float = 0.95
    min_requests: int = 30

    def __post_init__(self) -> None:
        for name in ("min_agreement_lower_bound", "min_improvement"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be in (0, 1), got {getattr(self, name)}")
        # One-sided bounds below 50% confidence are not bounds (the normal quantile turns negative).
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"`confidence` must be in (0.5, 1), got {self.confidence}")
        if self.max_accuracy_loss_points < 0 or self.max_regression_error < 0:
            raise ValueError("`max_accuracy_loss_points` and `max_regression_error` must be >= 0")
        if self.min_requests <= 0:
            raise ValueError(f"`min_requests` must be > 0, got {self.min_requests}")


@dataclass(frozen=True)
class LatencyGain:
    """Batch-1 latency of the variant against the baseline; ``ratio`` is the median of per-request ratios."""

    baseline_p50_ms: float
    variant_p50_ms: float
    baseline_p99_ms: float
    variant_p99_ms: float
    ratio: float
    ratio_lower: float
    ratio_upper: float

    @property
    def improvement(self) -> float:
        """Measured improvement, from the median per-request ratio, as a fraction (negative when slower)."""
        return 1 - self.ratio


@dataclass(frozen=True)
class CostGain:
    """Cost per 1k predictions at the throughput batch: busy time x the hardware class's price."""

    baseline_per_1k: float
    variant_per_1k: float
    conservative_ratio: float

    @property
    def improvement(self) -> float:
        """Cost improvement, comparing the variant's slowest round with the baseline's fastest."""
        return 1 - self.conservative_ratio


@dataclass(frozen=True)
class Verdict:
    """One variant's decision and the numbers behind it."""

    variant: str
    decision: Decision
    keep_reason: KeepReason | None
    quality: Status
    gain: Status
    settled: bool
    explanation: str
    latency: LatencyGain | None = None
    cost: CostGain | None = None

    @property
    def improvement(self) -> float:
        """The larger proven improvement (latency or cost); 0 when none is proven."""
        gains = [0.0]
        if self.latency is not None and self.gain == "pass":
            gains.append(self.latency.improvement)
        if self.cost is not None and self.gain == "pass":
            gains.append(self.cost.improvement)
        return max(gains)


@dataclass(frozen=True)
class Recommendation:
    """What to do: switch to ``variant``, or keep the baseline and why."""

    decision: Decision
    variant: str | None
    keep_reason: KeepReason | None
    explanation: str
    latency_improvement: float | None = None
    cost_improvement: float | None = None
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)


def adjusted_confidence(confidence: float, looks: int, variants: int) -> float:
    """The per-bound confidence after Bonferroni over every look and every variant compared."""
    if looks <= 0 or variants <= 0:
        raise ValueError(f"`looks` and `variants` must be > 0, got {looks} and {variants}")
    return 1 - (1 - confidence) / (looks * variants)


def latency_gain(baseline: Sequence[float], variant: Sequence[float], confidence: float) -> LatencyGain:
    """The median per-request latency ratio (variant / baseline, paired by request) with exact bounds.

    The bounds are order statistics of the per-request log ratios: the median of n independent pairs lies at
    or below the j-th smallest with probability P(Bin(n, 1/2) <= j - 1), whatever their distribution (the
    sign-test interval; Thompson 1936). No resampling: it costs a sort, where a bootstrap of medians cost tens
    of milliseconds per look, and it stays exact at the small alphas that Bonferroni over looks and variants
    asks for, where a thousand resamples leave a handful of points in the tail. With too few requests for the
    confidence asked, the bounds are 0 and infinity, so nothing is claimed.
    """
    n = min(len(baseline), len(variant))
    if n == 0:
        raise ValueError("no latencies to compare")
    base, var = np.asarray(baseline[:n], dtype=np.float64), np.asarray(variant[:n], dtype=np.float64)
    # A clock tick of 0 ns would make the log infinite; one nanosecond is below anything a run can resolve.
    logs = np.sort(np.log(np.maximum(var, 1e-6)) - np.log(np.maximum(base, 1e-6)))
    index = int(stats.binom.ppf(confidence, n, 0.5))  # smallest j with P(Bin(n, 1/2) <= j) >= confidence
    upper = math.exp(logs[index]) if index < n else math.inf
    lower = math.exp(logs[n - 1 - index]) if index < n else 0.0
    return LatencyGain(
        float(np.median(base)),
        float(np.median(var)),
        float(np.percentile(base, 99)),
        float(np.percentile(var, 99)),
        math.exp(float(np.median(logs))),
        lower,
        upper,
    )


def cost_gain(
    baseline_rounds: Sequence[float], variant_rounds: Sequence[float], baseline_price: float, variant_price: float
) -> CostGain | None:
    """Cost per 1k predictions (USD) from throughput rounds and $/hour prices; None without measurements."""
    if not baseline_rounds or not variant_rounds or min(*baseline_rounds, *variant_rounds) <= 0:
        return None
    per_1k = 1000 / 3600

    def cost(rps: float, price: float) -> float:
        return per_1k * price / rps

    conservative = cost(min(variant_rounds), variant_price) / cost(max(baseline_rounds), baseline_price)
    return CostGain(
        cost(float(np.median(baseline_rounds)), baseline_price),
        cost(float(np.median(variant_rounds)), variant_price),
        conservative,
    )


def quality_status(comparison: Comparison, margins: Margins) -> tuple[Status, str]:
    """Whether quality is non-inferior, and the numbers that say so."""
    if comparison.n < margins.min_requests:
        return "inconclusive", f"only {comparison.n} requests replayed (need {margins.min_requests})"
    if comparison.regression is not None:
        reg = comparison.regression
        upper, lower = reg.normalized(reg.mae_upper), reg.normalized(reg.mae_lower)
        text = (
            f"MAE vs baseline {reg.mae:.4g} (bounds {reg.mae_lower:.4g}..{reg.mae_upper:.4g}; "
            f"{upper:.2%} of baseline std at the upper bound, margin {margins.max_regression_error:.2%})"
        )
        return (
            "pass"
            if upper <= margins.max_regression_error
            else "fail"
            if lower > margins.max_regression_error
            else "inconclusive"
        ), text
    agreement, accuracy = comparison.agreement, comparison.accuracy
    assert agreement is not None  # classification comparisons always carry agreement
    parts = [
        f"agreement {agreement.agree}/{agreement.n} = {agreement.rate:.2%} "
        f"(bounds {agreement.lower:.2%}..{agreement.upper:.2%}, margin {margins.min_agreement_lower_bound:.2%})"
    ]
    max_loss = margins.max_accuracy_loss_points / 100
    if accuracy is not None:
        parts.append(
            f"accuracy {accuracy.baseline:.2%} -> {accuracy.variant:.2%} on {accuracy.n} outcomes "
            f"(loss {accuracy.loss * 100:.2f} pts, bounds {accuracy.loss_lower * 100:.2f}.."
            f"{accuracy.loss_upper * 100:.2f}, margin {margins.max_accuracy_loss_points:.2f}; "
            f"flips -{accuracy.flips_lost}/+{accuracy.flips_gained})"
        )
    if comparison.probabilities is not None:
        parts.append(
            f"max |dp| {comparison.probabilities.max_abs_diff:.4f}, mean KL {comparison.probabilities.mean_kl:.2e}"
        )
    accuracy_pass = accuracy is not None and accuracy.n >= margins.min_requests and accuracy.loss_upper <= max_loss
    if agreement.lower >= margins.min_agreement_lower_bound or accuracy_pass:
        return "pass", "; ".join(parts)
    agreement_fails = agreement.upper < margins.min_agreement_lower_bound
    if agreement_fails and (accuracy is None or accuracy.loss_lower > max_loss):
        return "fail", "; ".join(parts)
    return "inconclusive", "; ".join(parts)


def judge_variant(
    name: str,
    comparison: Comparison,
    baseline: Measurement,
    variant: Measurement,
    margins: Margins,
    *,
    confidence: float,
    prices: tuple[float, float] | None = None,
    final: bool = True,
    unpriced: str | None = None,
) -> Verdict:
    """One variant's verdict at one look; ``confidence`` is the look's adjusted level.

    ``unpriced`` says why a variant on other hardware than the baseline's has no price: being faster there
    does not show that it pays, so it is kept (``unpriced``) whatever its latency, unless quality fails.
    """
    adjusted = Margins(**{**margins.__dict__, "confidence": confidence})
    quality, quality_text = quality_status(comparison, adjusted)
    latency = latency_gain(baseline.latencies_ms, variant.latencies_ms, confidence) if variant.latencies_ms else None
    cost = None
    if prices is not None:
        cost = cost_gain(baseline.throughput_rounds_rps, variant.throughput_rounds_rps, prices[0], prices[1])
    threshold = 1 - margins.min_improvement
    latency_pass = latency is not None and latency.ratio_upper <= threshold
    cost_pass = cost is not None and cost.improvement >= margins.min_improvement
    latency_fail = latency is None or latency.ratio_lower > threshold
    gain: Status = "pass" if latency_pass or cost_pass else "fail" if latency_fail else "inconclusive"
    if unpriced is not None:
        gain = "fail"
    texts = [quality_text]
    if latency is not None:
        texts.append(
            f"p50 {latency.baseline_p50_ms:.4f} -> {latency.variant_p50_ms:.4f} ms, "
            f"p99 {latency.baseline_p99_ms:.4f} -> {latency.variant_p99_ms:.4f} ms; per-request latency ratio "
            f"{latency.ratio:.3f} ({-latency.improvement:+.1%}; bounds {latency.ratio_lower:.3f}.."
            f"{latency.ratio_upper:.3f}, need <= {threshold:.2f})"
        )
    if unpriced is not None:
        texts.append(unpriced)
    if cost is not None:
        texts.append(
            f"cost per 1k ${cost.baseline_per_1k:.3g} -> ${cost.variant_per_1k:.3g} at batch "
            f"{variant.throughput_batch} ({-cost.improvement:+.1%} conservatively)"
        )
    # A disproven gain settles the variant whatever more traffic would say about quality: it cannot switch.
    settled = quality == "fail" or gain == "fail" or (quality == "pass" and gain != "inconclusive")
    decision: Decision = "switch" if quality == "pass" and gain == "pass" else "keep"
    reason: KeepReason | None = None
    if decision == "keep":
        if quality == "fail":
            reason = "quality"
        elif unpriced is not None:
            reason = "unpriced"
        elif gain == "fail" or quality == "pass":
            reason = "no_gain"
        else:
            reason = "not_enough_traffic"
    if not final and decision == "keep" and not settled:
        reason = "not_enough_traffic"
    headline = {
        None: "switch: quality holds and it is faster or cheaper",
        "quality": "keep: quality is worse than the margin allows",
        "no_gain": "keep: quality holds but no gain on this hardware",
        "unpriced": "keep: it runs on other hardware with no price, so no gain can be shown",
        "not_enough_traffic": "keep: not enough traffic to prove quality",
        "no_variant": "keep",
    }[reason]
    return Verdict(
        name, decision, reason, quality, gain, settled, f"{name}: {headline} — " + "; ".join(texts), latency, cost
    )


def recommend(verdicts: Mapping[str, Verdict], failures: Mapping[str, str]) -> Recommendation:
    """The run's recommendation: the best switchable variant, or keep with the reason closest to a switch."""
    failed = [f"{name}: not built ({error})" for name, error in failures.items()]
    switchable = [verdict for verdict in verdicts.values() if verdict.decision == "switch"]
    all_verdicts = tuple(verdicts.values())
    if switchable:
        best = max(switchable, key=lambda verdict: verdict.improvement)
        return Recommendation(
            "switch",
            best.variant,
            None,
            "\n".join([best.explanation, *(v.explanation for v in all_verdicts if v is not best), *failed]),
            best.latency.improvement if best.latency else None,
            best.cost.improvement if best.cost else None,
            all_verdicts,
        )
    if not all_verdicts:
        return Recommendation("keep", None, "no_variant", "\n".join(["keep: no variant could be built", *failed]))
    reasons = [verdict.keep_reason for verdict in all_verdicts]
    # The reason closest to a switch leads: a price to set, then a gain that is missing, then more traffic.
    reason: KeepReason = next(r for r in ("unpriced", "no_gain", "not_enough_traffic", "quality") if r in reasons)
    return Recommendation(
        "keep", None, reason, "\n".join([*(v.explanation for v in all_verdicts), *failed]), verdicts=all_verdicts
    )
