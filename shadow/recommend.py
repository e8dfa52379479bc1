"""The switch recommendation: non-inferiority on quality, and a latency or cost gain, both with margins.

Rule, per variant, with every bound one-sided at the run's adjusted confidence:

* quality passes when the agreement lower bound >= ``min_agreement_lower_bound`` or (with outcomes) the
  accuracy-loss upper bound <= ``max_accuracy_loss_points``; regressors: the bootstrap upper bound of MAE
  against the baseline, over the baseline outputs' standard deviation, <= ``max_regression_error``. It fails
  when the opposite bounds already exclude the margin; otherwise it is inconclusive (not enough traffic);
* gain passes when the upper bound of the median per-request latency ratio (variant / baseline, paired by
  request; an exact order-statistic bound) is <= 1 - ``min_improvement``, or when the cost per 1k
  predictions improves by ``min_improvement`` at the lower confidence bound of the throughput ratio (paired,
  interleaved timed rounds; a Student t bound on the mean log ratio). Nothing else counts as a speed-up, so
  no claim is made that was not measured;
* a variant whose graph is the baseline's (its builder changed nothing, or a quantizer quantized no op) is
  settled as ``unchanged`` and never recommended: any gain it shows is noise;
* a variant on other hardware than the baseline's (a GPU provider) needs a price for both classes: without
  one, being faster does not show that it pays, and it is kept as ``unpriced`` (see shadow.hardware);
* quality is also judged per slice (per predicted class, per quantile bin of each feature), with bounds
  corrected over every slice examined; a variant that holds overall but fails a slice with at least
  ``min_requests`` requests is kept as ``slice``, naming it; smaller slices are listed as not judged;
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
from typing import Final, Literal

import numpy as np
from scipy import stats

from shadow.compare import Comparison, SliceStats
from shadow.replay import Measurement

Decision = Literal["switch", "keep"]
KeepReason = Literal["quality", "slice", "no_gain", "unpriced", "not_enough_traffic", "unchanged", "no_variant"]
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
class ThroughputRatio:
    """Variant rows/s over baseline rows/s: the geometric mean over paired rounds, with one-sided bounds."""

    rounds: int
    ratio: float
    lower: float
    upper: float


@dataclass(frozen=True)
class CostGain:
    """Cost per 1k predictions at the throughput batch: busy time x the hardware class's price."""

    baseline_per_1k: float
    variant_per_1k: float
    # The cost ratio (variant / baseline) at the throughput ratio's lower bound: what the claim rests on.
    conservative_ratio: float
    throughput: ThroughputRatio | None = None

    @property
    def improvement(self) -> float:
        """Cost improvement at the lower confidence bound of the throughput ratio."""
        return 1 - self.conservative_ratio


@dataclass(frozen=True)
class SliceVerdict:
    """Quality on one slice: ``not_judged`` when it has fewer than ``min_requests`` requests."""

    name: str
    n: int
    status: Literal["pass", "fail", "inconclusive", "not_judged"]
    text: str


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
    slices: tuple[SliceVerdict, ...] = ()

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
    # One line that says what to do and, when keeping, which variant came closest and what stopped it.
    headline: str = ""
    closest: str | None = None


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


def throughput_ratio(
    baseline_rounds: Sequence[float], variant_rounds: Sequence[float], confidence: float
) -> ThroughputRatio | None:
    """Bounds on variant / baseline throughput from paired rounds (round i of each ran back to back).

    Pairing cancels what drifts during a run (frequency scaling, a neighbour's load); the log ratios of the
    pairs are averaged and bounded with Student's t (n - 1 degrees of freedom). With fewer than two pairs
    nothing can be bounded: 0 and infinity. None without measurements.
    """
    n = min(len(baseline_rounds), len(variant_rounds))
    if n == 0 or min(*baseline_rounds[:n], *variant_rounds[:n]) <= 0:
        return None
    logs = np.log(np.asarray(variant_rounds[:n], dtype=np.float64)) - np.log(
        np.asarray(baseline_rounds[:n], dtype=np.float64)
    )
    centre = float(np.mean(logs))
    if n < 2:
        return ThroughputRatio(n, math.exp(centre), 0.0, math.inf)
    spread = float(stats.t.ppf(confidence, n - 1)) * float(np.std(logs, ddof=1)) / math.sqrt(n)
    return ThroughputRatio(n, math.exp(centre), math.exp(centre - spread), math.exp(centre + spread))


def cost_gain(
    baseline_rounds: Sequence[float],
    variant_rounds: Sequence[float],
    baseline_price: float,
    variant_price: float,
    confidence: float = 0.95,
) -> CostGain | None:
    """Cost per 1k predictions (USD) from paired throughput rounds and $/hour prices; None without measurements.

    The conservative ratio takes the throughput ratio at its lower bound: a claim of a cheaper variant holds at
    ``confidence``, not only on the rounds that happened to be measured.
    """
    ratio = throughput_ratio(baseline_rounds, variant_rounds, confidence)
    if ratio is None:
        return None
    per_1k = 1000 / 3600

    def cost(rps: float, price: float) -> float:
        return per_1k * price / rps

    conservative = (variant_price / baseline_price) / ratio.lower if ratio.lower > 0 else math.inf
    return CostGain(
        cost(float(np.median(baseline_rounds)), baseline_price),
        cost(float(np.median(variant_rounds)), variant_price),
        conservative,
        ratio,
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


def judge_slices(slices: Sequence[SliceStats], margins: Margins) -> tuple[SliceVerdict, ...]:
    """Each slice against the same margins as the whole traffic; too small a slice is not judged."""
    verdicts = []
    for item in slices:
        if item.n < margins.min_requests:
            verdicts.append(SliceVerdict(item.name, item.n, "not_judged", f"{item.name}: {item.n} requests"))
            continue
        comparison = Comparison(
            "regression" if item.regression is not None else "classification",
            item.n,
            item.agreement,
            item.accuracy,
            regression=item.regression,
        )
        status, text = quality_status(comparison, margins)
        verdicts.append(SliceVerdict(item.name, item.n, status, f"{item.name}: {text}"))
    return tuple(verdicts)


def _slice_texts(slices: Sequence[SliceVerdict], confidence: float | None, min_requests: int) -> list[str]:
    """The failed slices with their numbers, then the slices too small to judge."""
    texts = []
    failed = [item for item in slices if item.status == "fail"]
    if failed:
        level = f" (each slice bound at {confidence:.4f})" if confidence else ""
        texts.append("fails on " + "; ".join(item.text for item in failed) + level)
    not_judged = [item for item in slices if item.status == "not_judged"]
    if not_judged:
        texts.append(
            f"not judged (fewer than {min_requests} requests): "
            + ", ".join(f"{item.name} ({item.n})" for item in not_judged)
        )
    return texts


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
    unchanged: str | None = None,
    caveats: Sequence[str] = (),
) -> Verdict:
    """One variant's verdict at one look; ``confidence`` is the look's adjusted level.

    ``unpriced`` says why a variant on other hardware than the baseline's has no price: being faster there
    does not show that it pays, so it is kept (``unpriced``) whatever its latency, unless quality fails.
    ``unchanged`` says why the variant computes what the baseline does: it is settled and kept as such, since
    any gain it measures is noise. ``caveats`` are appended to the explanation.
    """
    adjusted = Margins(**{**margins.__dict__, "confidence": confidence})
    quality, quality_text = quality_status(comparison, adjusted)
    slices = judge_slices(comparison.slices, adjusted)
    failed_slices = [item for item in slices if item.status == "fail"]
    latency = latency_gain(baseline.latencies_ms, variant.latencies_ms, confidence) if variant.latencies_ms else None
    cost = None
    if prices is not None:
        cost = cost_gain(
            baseline.throughput_rounds_rps, variant.throughput_rounds_rps, prices[0], prices[1], confidence
        )
    threshold = 1 - margins.min_improvement
    latency_pass = latency is not None and latency.ratio_upper <= threshold
    cost_pass = cost is not None and cost.improvement >= margins.min_improvement
    latency_fail = latency is None or latency.ratio_lower > threshold
    gain: Status = "pass" if latency_pass or cost_pass else "fail" if latency_fail else "inconclusive"
    if unpriced is not None or unchanged is not None:
        gain = "fail"
    texts = [quality_text]
    if unchanged is not None:
        texts.insert(0, unchanged)
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
        bound = cost.throughput
        rows = (
            f"; throughput ratio {bound.ratio:.3f} (bounds {bound.lower:.3f}..{bound.upper:.3f} over "
            f"{bound.rounds} paired rounds)"
            if bound is not None
            else ""
        )
        texts.append(
            f"cost per 1k ${cost.baseline_per_1k:.3g} -> ${cost.variant_per_1k:.3g} at batch "
            f"{variant.throughput_batch} ({-cost.improvement:+.1%} at the throughput bound{rows})"
        )
    texts += _slice_texts(slices, comparison.slice_confidence, margins.min_requests)
    texts.extend(caveats)
    # A disproven gain settles the variant whatever more traffic would say about quality: it cannot switch.
    # A failed slice is as final as a failed whole: more traffic only narrows its bounds further.
    settled = (
        unchanged is not None
        or quality == "fail"
        or bool(failed_slices)
        or gain == "fail"
        or (quality == "pass" and gain != "inconclusive")
    )
    decision: Decision = "switch" if quality == "pass" and gain == "pass" and not failed_slices else "keep"
    reason: KeepReason | None = None
    if decision == "keep":
        if unchanged is not None:
            reason = "unchanged"
        elif quality == "fail":
            reason = "quality"
        elif failed_slices:
            reason = "slice"
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
        "no_gain": (
            "keep: quality holds but no gain on this hardware"
            if quality == "pass"
            else "keep: no gain on this hardware (quality not proven either way)"
        ),
        "unchanged": "keep: it computes exactly what the baseline does, so it cannot be a gain",
        "slice": "keep: quality holds overall but not on "
        + ", ".join(item.name for item in failed_slices[:3])
        + (f" and {len(failed_slices) - 3} more slices" if len(failed_slices) > 3 else ""),
        "unpriced": "keep: it runs on other hardware with no price, so no gain can be shown",
        "not_enough_traffic": "keep: not enough traffic to prove quality",
        "no_variant": "keep",
    }[reason]
    return Verdict(
        name,
        decision,
        reason,
        quality,
        gain,
        settled,
        f"{name}: {headline} — " + "; ".join(texts),
        latency,
        cost,
        slices,
    )


_POINTS: Final = {"pass": 2, "inconclusive": 1, "fail": 0}


def _measured(verdict: Verdict) -> str:
    """What a variant measured against the baseline, proven or not: latency and cost ratios."""
    parts = []
    if verdict.latency is not None:
        parts.append(f"p50 latency x{verdict.latency.ratio:.3g}")
    if verdict.cost is not None and verdict.cost.baseline_per_1k > 0:
        parts.append(f"cost per 1k x{verdict.cost.variant_per_1k / verdict.cost.baseline_per_1k:.3g}")
    return ", ".join(parts) or "nothing measured"


def _measured_gain(verdict: Verdict) -> float:
    """The larger measured improvement (latency or cost), proven or not, for ranking near misses."""
    gains = [-math.inf]
    if verdict.latency is not None:
        gains.append(verdict.latency.improvement)
    if verdict.cost is not None and verdict.cost.baseline_per_1k > 0:
        gains.append(1 - verdict.cost.variant_per_1k / verdict.cost.baseline_per_1k)
    return max(gains)


def closest_verdict(verdicts: Sequence[Verdict]) -> Verdict | None:
    """The kept variant nearest a switch: most of quality and gain passed (inconclusive counts half), then
    the largest measured gain; a variant that changed nothing is never the closest."""
    changed = [verdict for verdict in verdicts if verdict.keep_reason != "unchanged"]
    if not changed:
        return None
    return max(changed, key=lambda v: (_POINTS[v.quality] + _POINTS[v.gain], _measured_gain(v)))


def recommend(
    verdicts: Mapping[str, Verdict], failures: Mapping[str, str], skipped: Mapping[str, str] | None = None
) -> Recommendation:
    """The run's recommendation: the best switchable variant, or keep with the reason closest to a switch.

    ``failures`` are variants that could not be built or run; ``skipped`` are variant families that do not
    apply to this model, each with its note.
    """
    failed = [f"{name}: not built ({error})" for name, error in failures.items()]
    failed += [f"{name}: skipped, does not apply ({note})" for name, note in (skipped or {}).items()]
    switchable = [verdict for verdict in verdicts.values() if verdict.decision == "switch"]
    all_verdicts = tuple(verdicts.values())
    if switchable:
        best = max(switchable, key=lambda verdict: verdict.improvement)
        headline = f"switch to {best.variant}: quality holds, {_measured(best)}"
        return Recommendation(
            "switch",
            best.variant,
            None,
            "\n".join([headline, best.explanation, *(v.explanation for v in all_verdicts if v is not best), *failed]),
            best.latency.improvement if best.latency else None,
            best.cost.improvement if best.cost else None,
            all_verdicts,
            headline=headline,
            closest=best.variant,
        )
    if not all_verdicts:
        headline = "keep the baseline (no_variant): no variant could be built or applies to this model"
        return Recommendation("keep", None, "no_variant", "\n".join([headline, *failed]), headline=headline)
    closest = closest_verdict(all_verdicts)
    if closest is None:
        # Every variant computes what the baseline does: there is nothing to gain, and nothing more to learn.
        headline = "keep the baseline (no_gain): no variant changed the model (" + ", ".join(verdicts) + ")"
        reason: KeepReason = "no_gain"
    else:
        assert closest.keep_reason is not None  # a kept verdict always says why
        reason = closest.keep_reason
        stopped = closest.explanation.split(" — ")[0].removeprefix(f"{closest.variant}: keep: ")
        headline = (
            f"keep the baseline ({reason}): closest was {closest.variant}, {_measured(closest)}; "
            f"stopped because {stopped}"
        )
    return Recommendation(
        "keep",
        None,
        reason,
        "\n".join([headline, *(v.explanation for v in all_verdicts), *failed]),
        verdicts=all_verdicts,
        headline=headline,
        closest=closest.variant if closest else None,
    )
