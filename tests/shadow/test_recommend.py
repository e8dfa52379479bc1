"""The recommendation rule on hand-built comparisons and measurements: every reason, cost, and the correction."""

from __future__ import annotations

import numpy as np
import pytest

from shadow.compare import AccuracyStats, AgreementStats, Comparison
from shadow.recommend import (
    Margins,
    adjusted_confidence,
    cost_gain,
    judge_variant,
    latency_gain,
    recommend,
    throughput_ratio,
)
from shadow.replay import Measurement

MARGINS = Margins()


def _agreement(lower: float, upper: float, n: int = 1000) -> Comparison:
    """A classification comparison whose agreement bounds are given directly."""
    rate = (lower + upper) / 2
    return Comparison("classification", n, AgreementStats(n, round(rate * n), rate, lower, upper))


def _measure(key: str, p50_ms: float, rounds_rps: tuple[float, ...] = (), n: int = 400) -> Measurement:
    """Batch-1 latencies around ``p50_ms`` (seeded jitter of 2%), and optional throughput rounds."""
    jitter = np.random.default_rng(len(key)).normal(1.0, 0.02, n)
    return Measurement(
        key=key,
        execution_provider="CPUExecutionProvider",
        latencies_ms=tuple(float(x) for x in p50_ms * jitter),
        throughput_rps=float(np.median(rounds_rps)) if rounds_rps else float("nan"),
        throughput_batch=32,
        throughput_rounds_rps=rounds_rps,
        peak_memory_bytes=1 << 20,
        memory_method="test",
    )


BASE = _measure("baseline", 1.0)
FASTER = _measure("variant-fast", 0.5)
SAME = _measure("variant-same", 1.0)


def test_switch_when_quality_and_latency_clear_their_margins() -> None:
    """Agreement bound above 99% and a halved p50: switch, settled, the numbers in the explanation."""
    verdict = judge_variant("int8", _agreement(0.995, 1.0), BASE, FASTER, MARGINS, confidence=0.95)
    assert (verdict.decision, verdict.keep_reason, verdict.quality, verdict.gain) == ("switch", None, "pass", "pass")
    assert verdict.settled
    assert verdict.latency is not None
    assert verdict.latency.ratio_upper <= 1 - MARGINS.min_improvement
    assert "faster or cheaper" in verdict.explanation
    assert "agreement" in verdict.explanation
    assert "p50" in verdict.explanation


def test_quality_failure_keeps_for_quality_even_when_faster() -> None:
    """An agreement upper bound below the margin keeps the baseline for quality, and settles the variant."""
    verdict = judge_variant("int8", _agreement(0.85, 0.90), BASE, FASTER, MARGINS, confidence=0.95, final=False)
    assert (verdict.decision, verdict.keep_reason, verdict.quality) == ("keep", "quality", "fail")
    assert verdict.settled


def test_disproven_gain_settles_as_no_gain_while_quality_is_inconclusive() -> None:
    """Not faster and not cheaper: settled at once with no_gain, although quality has not been proven yet."""
    verdict = judge_variant("fp16", _agreement(0.95, 1.0), BASE, SAME, MARGINS, confidence=0.95, final=False)
    assert (verdict.quality, verdict.gain) == ("inconclusive", "fail")
    assert verdict.settled
    assert (verdict.decision, verdict.keep_reason) == ("keep", "no_gain")
    assert "no gain on this hardware" in verdict.explanation
    assert "faster" not in verdict.explanation


def test_quality_proven_but_not_faster_is_no_gain() -> None:
    """Quality passes and the latency ratio's lower bound is past the margin: keep, no_gain."""
    verdict = judge_variant("fp16", _agreement(0.995, 1.0), BASE, SAME, MARGINS, confidence=0.95)
    assert (verdict.decision, verdict.keep_reason, verdict.quality, verdict.gain) == ("keep", "no_gain", "pass", "fail")
    assert verdict.improvement == 0.0


def test_inconclusive_quality_with_a_gain_is_not_enough_traffic() -> None:
    """Faster, but the agreement bound straddles the margin: not settled, not_enough_traffic."""
    verdict = judge_variant("int8", _agreement(0.97, 1.0), BASE, FASTER, MARGINS, confidence=0.95, final=False)
    assert (verdict.quality, verdict.gain) == ("inconclusive", "pass")
    assert not verdict.settled
    assert (verdict.decision, verdict.keep_reason) == ("keep", "not_enough_traffic")
    few = judge_variant("int8", _agreement(0.999, 1.0, n=10), BASE, FASTER, MARGINS, confidence=0.95)
    assert (few.quality, few.keep_reason) == ("inconclusive", "not_enough_traffic")
    assert "only 10 requests" in few.explanation


def test_accuracy_bound_alone_can_pass_quality() -> None:
    """Agreement inconclusive, but the accuracy-loss upper bound is within 0.5 points: quality passes."""
    accuracy = AccuracyStats(1000, 0.95, 0.951, 1, 2, -0.001, -0.004, 0.002)
    comparison = Comparison("classification", 1000, AgreementStats(1000, 985, 0.985, 0.97, 0.99), accuracy)
    verdict = judge_variant("int8", comparison, BASE, FASTER, MARGINS, confidence=0.95)
    assert (verdict.quality, verdict.decision) == ("pass", "switch")
    assert "accuracy 95.00% -> 95.10%" in verdict.explanation


def test_cost_alone_can_justify_a_switch_on_cheaper_hardware() -> None:
    """Same latency and throughput on a class at half the price: a cost-based switch, the cost in the text."""
    base = _measure("baseline", 1.0, (1000.0, 1010.0, 990.0))
    same = _measure("variant-same", 1.0, (1000.0, 1005.0, 995.0))
    verdict = judge_variant("cheap", _agreement(0.995, 1.0), base, same, MARGINS, confidence=0.95, prices=(1.0, 0.5))
    assert verdict.latency is not None
    assert verdict.latency.ratio_upper > 1 - MARGINS.min_improvement
    assert verdict.cost is not None
    # Conservative: the price ratio over the throughput ratio's lower bound (paired rounds, Student t).
    ratio = verdict.cost.throughput
    assert ratio is not None
    assert ratio.rounds == 3
    assert ratio.lower < ratio.ratio < ratio.upper
    assert verdict.cost.conservative_ratio == pytest.approx(0.5 / ratio.lower)
    assert (verdict.decision, verdict.gain) == ("switch", "pass")
    assert verdict.improvement == pytest.approx(verdict.cost.improvement)
    assert "cost per 1k" in verdict.explanation
    pricier = judge_variant("dear", _agreement(0.995, 1.0), base, same, MARGINS, confidence=0.95, prices=(1.0, 2.0))
    assert (pricier.gain, pricier.keep_reason) == ("fail", "no_gain")


def test_faster_on_unpriced_hardware_is_kept_as_unpriced() -> None:
    """Twice as fast on a GPU whose class has no price: kept and settled, saying why; a quality failure leads."""
    why = "fp16@CUDAExecutionProvider runs on CUDAExecutionProvider, whose hardware class is unknown"
    good = _agreement(0.995, 1.0)
    verdict = judge_variant("fp16@CUDA", good, BASE, FASTER, MARGINS, confidence=0.95, final=False, unpriced=why)
    assert (verdict.decision, verdict.keep_reason, verdict.gain, verdict.settled) == ("keep", "unpriced", "fail", True)
    assert why in verdict.explanation
    assert "no price" in verdict.explanation
    # The speed-up is still measured and shown; it just does not count as a gain without a price.
    assert verdict.latency is not None
    assert verdict.latency.ratio_upper <= 1 - MARGINS.min_improvement
    broken = judge_variant("fp16@CUDA", _agreement(0.85, 0.9), BASE, FASTER, MARGINS, confidence=0.95, unpriced=why)
    assert broken.keep_reason == "quality"
    # Across variants, a price to set is the reason closest to a switch.
    same = judge_variant("int8", good, BASE, SAME, MARGINS, confidence=0.95)
    assert same.keep_reason == "no_gain"
    assert recommend({"int8": same, "fp16@CUDA": verdict}, {}).keep_reason == "unpriced"


def test_recommend_picks_the_largest_proven_gain_and_the_closest_reason() -> None:
    """The best switchable variant wins; without one, no_gain outranks not_enough_traffic outranks quality."""
    faster = _measure("faster-still", 0.3)
    verdicts = {
        "a": judge_variant("a", _agreement(0.995, 1.0), BASE, FASTER, MARGINS, confidence=0.95),
        "b": judge_variant("b", _agreement(0.995, 1.0), BASE, faster, MARGINS, confidence=0.95),
    }
    picked = recommend(verdicts, {})
    assert (picked.decision, picked.variant) == ("switch", "b")
    assert picked.explanation.splitlines()[0].startswith("switch to b: quality holds, p50 latency x0.")
    assert picked.explanation.splitlines()[1].startswith("b: switch")
    assert (picked.headline, picked.closest) == (picked.explanation.splitlines()[0], "b")
    keeps = {
        "q": judge_variant("q", _agreement(0.8, 0.9), BASE, FASTER, MARGINS, confidence=0.95),
        "t": judge_variant("t", _agreement(0.97, 1.0), BASE, FASTER, MARGINS, confidence=0.95),
    }
    assert recommend(keeps, {}).keep_reason == "not_enough_traffic"
    nothing = recommend({}, {"int8-static": "no calibration data"})
    assert (nothing.keep_reason, nothing.variant) == ("no_variant", None)
    assert "int8-static: not built (no calibration data)" in nothing.explanation


def test_bonferroni_confidence_over_looks_and_variants() -> None:
    """alpha is split over every look and every variant, and the wider bounds follow from it."""
    assert adjusted_confidence(0.95, 4, 3) == pytest.approx(1 - 0.05 / 12)
    assert adjusted_confidence(0.95, 1, 1) == pytest.approx(0.95)
    with pytest.raises(ValueError, match="`looks` and `variants` must be > 0"):
        adjusted_confidence(0.95, 0, 1)
    plain = judge_variant("v", _agreement(0.995, 1.0), BASE, FASTER, MARGINS, confidence=0.95)
    strict = judge_variant(
        "v", _agreement(0.995, 1.0), BASE, FASTER, MARGINS, confidence=adjusted_confidence(0.95, 4, 3)
    )
    assert plain.latency is not None
    assert strict.latency is not None
    assert strict.latency.ratio_upper >= plain.latency.ratio_upper
    assert strict.latency.ratio_lower <= plain.latency.ratio_lower


def test_latency_bounds_are_the_sign_test_order_statistics() -> None:
    """Known answers: at 95%, the bounds of five ratios are the extremes; four ratios cannot bound anything."""
    five = latency_gain([1.0] * 5, [0.5, 0.9, 0.6, 0.8, 0.7], 0.95)
    assert (five.ratio, five.ratio_lower, five.ratio_upper) == pytest.approx((0.7, 0.5, 0.9))
    assert (five.baseline_p50_ms, five.variant_p50_ms) == pytest.approx((1.0, 0.7))
    # P(Bin(4, 1/2) <= 3) = 15/16 < 95%: no order statistic of four pairs is a 95% bound.
    four = latency_gain([1.0] * 4, [0.5, 0.6, 0.7, 0.8], 0.95)
    assert (four.ratio_lower, four.ratio_upper) == (0.0, float("inf"))
    # At 90% the fourth smallest of four bounds the median: 15/16 >= 0.9.
    assert latency_gain([1.0] * 4, [0.5, 0.6, 0.7, 0.8], 0.9).ratio_upper == pytest.approx(0.8)
    with pytest.raises(ValueError, match="no latencies"):
        latency_gain([], [], 0.95)


def test_latency_bounds_cover_the_true_ratio_at_their_confidence() -> None:
    """Simulated paired, skewed latencies with a true median ratio of 0.8: each one-sided bound holds >= 95%."""
    rng = np.random.default_rng(7)
    trials, n, truth = 400, 60, 0.8
    upper_holds = lower_holds = 0
    for _ in range(trials):
        base = rng.lognormal(0.0, 0.5, n)  # load on the machine: shared by both calls of a request
        noise = rng.standard_t(3, n) * 0.1  # heavy-tailed, symmetric about 0 on the log scale
        variant = base * truth * np.exp(noise)
        gain = latency_gain(base.tolist(), variant.tolist(), 0.95)
        upper_holds += gain.ratio_upper >= truth
        lower_holds += gain.ratio_lower <= truth
    # 95% of 400 is 380; a binomial sd is ~4.4, so 370 is a floor the bound should never miss by chance.
    assert upper_holds >= 370
    assert lower_holds >= 370


def test_throughput_ratio_bounds_are_students_t_on_paired_log_ratios() -> None:
    """Known answer: log ratios 0, ln 1.1, ln 1.2 paired by round; at 95% the t bound with 2 df."""
    from scipy import stats

    base = (100.0, 200.0, 100.0)
    variant = (100.0, 220.0, 120.0)
    ratio = throughput_ratio(base, variant, 0.95)
    assert ratio is not None
    logs = np.log([1.0, 1.1, 1.2])
    spread = stats.t.ppf(0.95, 2) * np.std(logs, ddof=1) / np.sqrt(3)
    assert ratio.ratio == pytest.approx(np.exp(logs.mean()))
    assert (ratio.lower, ratio.upper) == pytest.approx((np.exp(logs.mean() - spread), np.exp(logs.mean() + spread)))
    # One pair bounds nothing; no rounds measure nothing.
    one = throughput_ratio((100.0,), (200.0,), 0.95)
    assert one is not None
    assert (one.lower, one.upper) == (0.0, float("inf"))
    assert throughput_ratio((), (1.0,), 0.95) is None


def test_noisy_throughput_rounds_claim_no_cost_gain() -> None:
    """Rounds of a same-speed variant that swing x0.5..x2 (what 0.2 ms rounds measured): no cost gain is
    claimed from the luckiest pairing, as the min/max rule did (it saw x58 in the issue)."""
    base = (1000.0, 400.0, 1000.0, 500.0, 1000.0)
    same = (500.0, 1000.0, 2000.0, 1000.0, 900.0)
    cost = cost_gain(base, same, 1.0, 1.0, confidence=0.99)
    assert cost is not None
    assert cost.throughput is not None
    assert cost.throughput.lower < 1 < cost.throughput.upper
    assert cost.improvement < 0.10
    measured = _measure("same", 1.0, same)
    verdict = judge_variant(
        "same",
        _agreement(0.995, 1.0),
        _measure("baseline", 1.0, base),
        measured,
        MARGINS,
        confidence=0.99,
        prices=(1.0, 1.0),
    )
    assert verdict.decision == "keep"
    assert "throughput ratio" in verdict.explanation


def test_unchanged_variant_is_settled_and_never_recommended() -> None:
    """A variant that computes what the baseline does is kept as unchanged, even when noise made it look faster."""
    why = "int8-dynamic quantized no op (no op in this graph is one ONNX Runtime's quantizer supports)"
    verdict = judge_variant(
        "int8-dynamic", _agreement(0.995, 1.0), BASE, FASTER, MARGINS, confidence=0.95, final=False, unchanged=why
    )
    assert (verdict.decision, verdict.keep_reason, verdict.gain, verdict.settled) == ("keep", "unchanged", "fail", True)
    assert why in verdict.explanation
    rec = recommend({"int8-dynamic": verdict}, {})
    assert (rec.decision, rec.variant, rec.keep_reason, rec.closest) == ("keep", None, "no_gain", None)
    assert rec.headline.startswith("keep the baseline (no_gain): no variant changed the model")


def test_no_gain_does_not_say_quality_holds_while_it_is_inconclusive() -> None:
    """A disproven gain with quality still unproven: no_gain, and the text says quality is not proven."""
    verdict = judge_variant("same", _agreement(0.97, 1.0), BASE, SAME, MARGINS, confidence=0.95, final=False)
    assert (verdict.keep_reason, verdict.quality, verdict.settled) == ("no_gain", "inconclusive", True)
    assert "quality holds" not in verdict.explanation
    assert "quality not proven" in verdict.explanation


def test_keep_headline_names_the_closest_variant_and_what_stopped_it() -> None:
    """int8 twice as fast but breaking quality, fp16 safe but no faster: the headline names int8 and quality."""
    verdicts = {
        "int8-dynamic": judge_variant("int8-dynamic", _agreement(0.80, 0.85), BASE, FASTER, MARGINS, confidence=0.95),
        "fp16": judge_variant("fp16", _agreement(0.995, 1.0), BASE, SAME, MARGINS, confidence=0.95),
    }
    rec = recommend(verdicts, {})
    assert (rec.decision, rec.keep_reason, rec.closest) == ("keep", "quality", "int8-dynamic")
    assert rec.headline.startswith("keep the baseline (quality): closest was int8-dynamic, p50 latency x0.")
    assert "stopped because quality is worse than the margin allows" in rec.headline
    assert rec.explanation.splitlines()[0] == rec.headline


def test_a_variant_that_fails_one_class_is_kept_naming_it_and_small_slices_are_not_judged() -> None:
    """Overall agreement 99.4% holds; class 1 agrees on 70 of 100 (fails); class 2 has 10 requests (not judged)."""
    from shadow.compare import SliceOptions, compare_outputs

    base = np.array([0] * 4890 + [1] * 100 + [2] * 10)
    variant = base.copy()
    variant[4890:4920] = 0  # 30 of class 1's 100 requests flip to class 0
    comparison = compare_outputs(
        "classification",
        {"label": base},
        {"label": variant},
        [None] * len(base),
        confidence=0.95,
        slice_options=SliceOptions(),
    )
    assert comparison.agreement is not None
    assert comparison.agreement.lower >= MARGINS.min_agreement_lower_bound
    # Three classes examined, no features: each slice bound at 1 - 0.05 / 3.
    assert comparison.slice_confidence == pytest.approx(1 - 0.05 / 3)
    assert [(s.name, s.n) for s in comparison.slices] == [
        ("predicted class 0", 4890),
        ("predicted class 1", 100),
        ("predicted class 2", 10),
    ]
    verdict = judge_variant("int8", comparison, BASE, FASTER, MARGINS, confidence=0.95)
    assert (verdict.decision, verdict.keep_reason, verdict.quality, verdict.settled) == ("keep", "slice", "pass", True)
    assert [(s.name, s.status) for s in verdict.slices] == [
        ("predicted class 0", "pass"),
        ("predicted class 1", "fail"),
        ("predicted class 2", "not_judged"),
    ]
    assert "quality holds overall but not on predicted class 1" in verdict.explanation
    assert "fails on predicted class 1: agreement 70/100 = 70.00%" in verdict.explanation
    assert "not judged (fewer than 30 requests): predicted class 2 (10)" in verdict.explanation
    rec = recommend({"int8": verdict}, {})
    assert (rec.decision, rec.keep_reason, rec.closest) == ("keep", "slice", "int8")


def test_feature_bins_find_the_range_where_the_variant_disagrees() -> None:
    """Disagreements only where feature 1 is in its top quartile: that bin fails, and feature 1 is listed first."""
    from shadow.compare import SliceOptions, compare_outputs

    rng = np.random.default_rng(3)
    features = rng.standard_normal((4000, 3))
    base = np.zeros(4000, dtype=np.int64)
    variant = base.copy()
    top = np.flatnonzero(features[:, 1] > np.quantile(features[:, 1], 0.75))
    variant[top[:30]] = 1
    comparison = compare_outputs(
        "classification",
        {"label": base},
        {"label": variant},
        [None] * 4000,
        confidence=0.95,
        features=features,
        slice_options=SliceOptions(bins=4, shown_features=1),
    )
    # One class and 3 features x 4 bins examined; only feature 1's bins are listed.
    assert comparison.slice_confidence == pytest.approx(1 - 0.05 / 13)
    names = [s.name for s in comparison.slices]
    assert names[0] == "predicted class 0"
    assert all(name.startswith("feature 1 in [") for name in names[1:])
    assert len(names) == 5
    verdict = judge_variant("v", comparison, BASE, FASTER, MARGINS, confidence=0.95)
    failed = [s.name for s in verdict.slices if s.status == "fail"]
    assert failed == [names[-1]]
    assert verdict.keep_reason == "slice"


def test_a_configured_category_that_fails_is_named() -> None:
    """slice_by country: the variant disagrees on 40 of FR's 200 requests only; FR fails, DE passes."""
    from shadow.compare import SliceOptions, compare_outputs

    base = np.zeros(5000, dtype=np.int64)
    variant = base.copy()
    country = np.array(["DE"] * 4800 + ["FR"] * 200, dtype=object)
    variant[4800:4840] = 1
    comparison = compare_outputs(
        "classification",
        {"label": base},
        {"label": variant},
        [None] * 5000,
        confidence=0.95,
        slice_options=SliceOptions(),
        categories={"country": country},
    )
    # One class and two countries examined.
    assert comparison.slice_confidence == pytest.approx(1 - 0.05 / 3)
    verdict = judge_variant("int8", comparison, BASE, FASTER, MARGINS, confidence=0.95)
    statuses = {s.name: s.status for s in verdict.slices}
    assert (statuses["country = FR"], statuses["country = DE"]) == ("fail", "pass")
    assert verdict.keep_reason == "slice"
    assert "fails on country = FR: agreement 160/200 = 80.00%" in verdict.explanation
