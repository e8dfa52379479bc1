"""End-to-end shadow runs on real models: the recommendation follows what was measured."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

import pytest

from shadow.errors import ArtifactNotFoundError, NoRecordedInputsError, ReplayError
from shadow.recommend import Margins, Verdict
from shadow.replay import ModelToRun, Replay, ReplayOptions
from shadow.report import render_html
from shadow.result import ShadowResult
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.tensors import Feed
from shadow.variants import VariantSpec, parse_variant_specs
from tests.shadow.models import (
    BuiltModel,
    diabetes_regressor,
    iris_tree_pipeline,
    other_signature_model,
    rare_class_model,
    sequence_model,
)


def _assert_claims_were_measured(verdict: Verdict, min_improvement: float) -> None:
    """A switch needs a quality bound past its margin and a measured gain past the minimum."""
    if verdict.decision != "switch":
        assert verdict.gain != "pass" or verdict.quality != "pass"
        return
    latency_ok = verdict.latency is not None and verdict.latency.ratio_upper <= 1 - min_improvement
    cost_ok = verdict.cost is not None and verdict.cost.improvement >= min_improvement
    assert latency_ok or cost_ok
    if latency_ok and verdict.latency is not None:
        assert verdict.latency.variant_p50_ms < verdict.latency.baseline_p50_ms * (1 - min_improvement) + 1e-12


def _check_all(result: ShadowResult) -> None:
    """Every verdict is consistent with its own numbers, and the explanation carries them."""
    for variant in result.variants:
        assert variant.verdict is not None
        _assert_claims_were_measured(variant.verdict, result.margins.min_improvement)
        assert "p50" in variant.verdict.explanation
    assert result.recommendation.explanation


def test_digits_int8_is_safe_and_switch_only_if_faster(digits: BuiltModel) -> None:
    """Digits MLP: int8-dynamic keeps quality; the run switches only on a measured gain, else says no gain."""
    # No early stop: a disproven gain would settle int8 before its quality is proven, and proving it is the point.
    options = ShadowOptions(prices={"cpu": 1.0}, early_stop=False)
    result = run_shadow(digits.path, recorded_from_feeds(digits.feeds(), digits.labels), options)
    _check_all(result)
    dynamic = next(r for r in result.variants if r.key == "int8-dynamic")
    assert dynamic.verdict is not None
    assert dynamic.verdict.quality == "pass"
    rec = result.recommendation
    assert rec.decision == "switch" or rec.keep_reason == "no_gain"
    if rec.decision == "switch":
        assert rec.variant is not None
        assert rec.variant in rec.explanation.splitlines()[0]


def test_extreme_range_model_is_kept_for_quality_and_stops_early(extreme: BuiltModel) -> None:
    """Weights with extreme dynamic range: int8 destroys agreement, the run keeps, and stops at the first look."""
    options = ShadowOptions(variants=parse_variant_specs("int8-dynamic,int8-static"))
    result = run_shadow(extreme.path, recorded_from_feeds(extreme.feeds()), options)
    assert result.recommendation.decision == "keep"
    assert result.recommendation.keep_reason == "quality"
    for variant in result.variants:
        assert variant.comparison is not None
        assert variant.comparison.agreement is not None
        assert variant.comparison.agreement.upper < 0.99
    assert result.stopped_early
    assert result.looks_taken == 1
    assert result.requests_replayed < len(extreme.rows)


def _nudged_copy(source: Path, destination: Path) -> Path:
    """The model with one weight moved by a millionth: another graph, as fast and as accurate as the source."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(source))
    tensor = next(t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and t.dims)
    array = numpy_helper.to_array(tensor).copy()
    array.flat[0] *= np.float32(1 + 1e-6)
    tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    onnx.save(proto, str(destination))
    return destination


def test_tiny_model_variant_accurate_but_never_claims_unmeasured_speed(tiny: BuiltModel, tmp_path: Path) -> None:
    """A near copy of the tiny iris MLP: quality proven on 600 requests, no speed-up, so keep with no_gain."""
    # As accurate and as fast as the baseline by construction, whatever the hardware, so the only honest
    # answer is "no gain"; 600 identical answers put the agreement bound above 99%.
    copy = _nudged_copy(tiny.path, tmp_path / "iris_copy.onnx")
    assert tiny.labels is not None
    inputs = recorded_from_feeds(tiny.feeds() * 2, tiny.labels * 2)
    options = ShadowOptions(variants=(VariantSpec("onnx", path=copy),), early_stop=False)
    result = run_shadow(tiny.path, inputs, options)
    _check_all(result)
    (variant,) = result.variants
    assert variant.variant.unchanged is None
    assert variant.comparison is not None
    assert variant.comparison.agreement is not None
    assert variant.comparison.agreement.rate == 1.0
    assert variant.verdict is not None
    assert result.requests_replayed == 600
    assert (variant.verdict.quality, variant.verdict.gain) == ("pass", "fail")
    assert variant.verdict.latency is not None
    assert variant.verdict.latency.ratio_lower > 1 - result.margins.min_improvement
    rec = result.recommendation
    assert (rec.decision, rec.keep_reason, rec.variant, rec.closest) == ("keep", "no_gain", None, "iris_copy.onnx")
    assert "faster" not in rec.explanation
    assert "quality holds but no gain on this hardware" in rec.explanation
    assert rec.headline.startswith("keep the baseline (no_gain): closest was iris_copy.onnx, p50 latency x")
    # With early stop, the disproven gain settles the copy at the first look, before quality could be proven,
    # and then the text does not say that quality holds.
    early = run_shadow(tiny.path, inputs, replace(options, early_stop=True))
    (copied,) = early.variants
    assert copied.verdict is not None
    assert (early.looks_taken, early.stopped_early) == (1, True)
    assert (copied.verdict.quality, copied.verdict.gain, copied.verdict.settled) == ("inconclusive", "fail", True)
    assert early.recommendation.keep_reason == "no_gain"
    assert "quality holds" not in early.recommendation.explanation


def test_a_byte_copy_is_settled_as_unchanged_and_never_recommended(tiny: BuiltModel, tmp_path: Path) -> None:
    """The same graph as the baseline on the same hardware: settled at the first look as unchanged, whatever the
    throughput noise says, even with a price that would turn noise into a cost gain."""
    copy = tmp_path / "iris_same.onnx"
    shutil.copyfile(tiny.path, copy)
    inputs = recorded_from_feeds(tiny.feeds())
    options = ShadowOptions(variants=(VariantSpec("onnx", path=copy),), prices={"cpu": 1.0})
    result = run_shadow(tiny.path, inputs, options)
    (variant,) = result.variants
    assert variant.variant.unchanged == "its graph is the baseline's: the builder changed nothing"
    assert variant.verdict is not None
    assert (variant.verdict.decision, variant.verdict.keep_reason, variant.verdict.settled) == (
        "keep",
        "unchanged",
        True,
    )
    assert (result.looks_taken, result.stopped_early) == (1, True)
    rec = result.recommendation
    assert (rec.decision, rec.variant, rec.keep_reason) == ("keep", None, "no_gain")
    assert rec.headline == "keep the baseline (no_gain): no variant changed the model (iris_same.onnx)"


def test_a_pipeline_the_quantizer_cannot_touch_is_never_a_switch(tmp_path: Path) -> None:
    """The issue's case: an skl2onnx pipeline of ai.onnx.ml ops; int8 changes nothing and is never recommended,
    however its throughput compares with a cold baseline's."""
    model = iris_tree_pipeline(tmp_path)
    assert model.labels is not None
    inputs = recorded_from_feeds(model.feeds(), model.labels)
    options = ShadowOptions(variants=parse_variant_specs("int8-dynamic,int8-static"), prices={"cpu": 1.0})
    for _ in range(2):  # the first run switched, its re-run kept
        result = run_shadow(model.path, inputs, options)
        assert {r.key: r.verdict.keep_reason for r in result.variants if r.verdict} == {
            "int8-dynamic": "unchanged",
            "int8-static": "unchanged",
        }
        assert (result.recommendation.decision, result.recommendation.keep_reason) == ("keep", "no_gain")


def test_a_variant_on_other_hardware_is_judged_by_its_price(tiny: BuiltModel, tmp_path: Path) -> None:
    """A byte copy named as running on another hardware class: kept as unpriced without a price for that class,
    judged on cost per 1k predictions with one."""
    copy = tmp_path / "iris_copy.onnx"
    shutil.copyfile(tiny.path, copy)
    assert tiny.labels is not None
    inputs = recorded_from_feeds(tiny.feeds() * 2, tiny.labels * 2)
    spec = VariantSpec("onnx", path=copy, hardware_class="npu-x1")
    options = ShadowOptions(variants=(spec,), early_stop=False, prices={"cpu": 0.10})
    unpriced = run_shadow(tiny.path, inputs, options)
    (variant,) = unpriced.variants
    assert variant.measurement.hardware_class == "npu-x1"
    assert variant.verdict is not None
    assert variant.verdict.cost is None
    assert (unpriced.recommendation.decision, unpriced.recommendation.keep_reason) == ("keep", "unpriced")
    assert "'npu-x1' has no price in [pricing.hardware]" in unpriced.recommendation.explanation
    # At half the CPU's price the same model costs about half as much per 1k predictions.
    priced = run_shadow(tiny.path, inputs, replace(options, prices={"cpu": 0.10, "npu-x1": 0.05}))
    (variant,) = priced.variants
    assert variant.verdict is not None
    cost = variant.verdict.cost
    assert cost is not None
    assert cost.variant_per_1k < cost.baseline_per_1k
    rec = priced.recommendation
    if cost.improvement >= priced.margins.min_improvement:
        assert (rec.decision, rec.variant) == ("switch", "iris_copy.onnx")
        assert "cost per 1k" in rec.explanation
    else:  # throughput rounds this far apart would be a very noisy machine; then no gain is claimed
        assert (rec.decision, rec.keep_reason) == ("keep", "no_gain")


def test_a_provider_that_cannot_start_is_that_runs_error_not_cpu_numbers(tiny: BuiltModel) -> None:
    """Asked for CUDA where it cannot start, ORT quietly binds CPU; the run reports that, and measures nothing."""
    # This CPU build of ONNX Runtime has no CUDA provider: it warns and falls back, as onnxruntime-gpu does on a
    # machine without a GPU or without the CUDA libraries.
    feeds = tiny.feeds(20)
    models = [
        ModelToRun("baseline", tiny.path, "CPUExecutionProvider"),
        ModelToRun("copy@CUDAExecutionProvider", tiny.path, "CUDAExecutionProvider"),
    ]
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        replay = Replay(models, ReplayOptions(), feeds)
    with replay:
        replay.run_throughput(feeds)
        replay.run_requests(feeds)
        measured = replay.measurements()
    gpu = measured["copy@CUDAExecutionProvider"]
    assert gpu.error is not None
    assert "asked for CUDAExecutionProvider, ONNX Runtime bound only ['CPUExecutionProvider']" in gpu.error
    assert (gpu.latencies_ms, gpu.throughput_rounds_rps, gpu.outputs) == ((), (), {})
    assert measured["baseline"].error is None
    assert len(measured["baseline"].latencies_ms) == 20


def test_sequences_of_different_lengths_replay_and_batch_one_at_a_time(tmp_path: Path) -> None:
    """Requests of 3 to 7 tokens cannot be stacked without padding: the run completes, throughput at batch 1."""
    path, feeds = sequence_model(tmp_path)
    copy = tmp_path / "sequence_copy.onnx"
    shutil.copyfile(path, copy)
    options = ShadowOptions(variants=(VariantSpec("onnx", path=copy),), early_stop=False)
    result = run_shadow(path, recorded_from_feeds(feeds), options)
    assert result.requests_replayed == len(feeds)
    for model in result.results:
        assert model.measurement.error is None
        assert model.measurement.throughput_batch == 1
        assert model.measurement.throughput_rps > 0
        assert "requests differ in shape beyond the batch axis" in " ".join(model.measurement.notes)
    (variant,) = result.variants
    assert variant.comparison is not None
    assert variant.comparison.regression is not None
    assert variant.comparison.regression.mae == 0


def test_outputs_as_long_as_each_request_get_a_clear_error(tmp_path: Path) -> None:
    """Per-token outputs of different lengths cannot be lined up yet: ReplayError names the output."""
    path, feeds = sequence_model(tmp_path, per_token=True)
    options = ShadowOptions(variants=(VariantSpec("onnx", path=path),), early_stop=False)
    with pytest.raises(ReplayError, match="output 'y' has a different shape from one request to the next"):
        run_shadow(path, recorded_from_feeds(feeds), options)


def test_first_look_spans_the_whole_time_range(extreme: BuiltModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay is shuffled before the looks: an early stop at look 1 has seen every tenth of the range."""
    first_look: list[Feed] = []

    class Recording(Replay):
        """Keeps the feeds of the first batch-1 pass, to see which requests the first look replayed."""

        def run_requests(self, feeds: Sequence[Feed], *args: Any, **kwargs: Any) -> None:
            if not first_look:
                first_look.extend(feeds)
            super().run_requests(feeds, *args, **kwargs)

    monkeypatch.setattr("shadow.runner.Replay", Recording)
    inputs = recorded_from_feeds(extreme.feeds())  # timestamps 0..n-1, in time order
    options = ShadowOptions(variants=parse_variant_specs("int8-dynamic"))
    result = run_shadow(extreme.path, inputs, options)
    assert result.looks_taken == 1
    assert result.stopped_early
    when = {id(item.inputs): item.ts_unix_nano for item in inputs}
    strata = {when[id(feed)] * 10 // len(inputs) for feed in first_look}
    assert len(first_look) == result.requests_replayed
    assert strata == set(range(10))


def test_regressor_is_compared_by_error_against_baseline(model_dir: Path) -> None:
    """A regressor gets MAE with bootstrap bounds instead of agreement."""
    model = diabetes_regressor(model_dir)
    options = ShadowOptions(variants=(VariantSpec("fp16"),), early_stop=False)
    result = run_shadow(model.path, recorded_from_feeds(model.feeds(200)), options)
    assert result.task == "regression"
    (variant,) = result.variants
    assert variant.comparison is not None
    assert variant.comparison.regression is not None
    assert variant.comparison.agreement is None
    _check_all(result)


def test_bad_variants_are_reported_not_fatal(digits: BuiltModel, tmp_path: Path) -> None:
    """A missing file and a mismatched signature become failures; the other variants still run."""
    specs = (
        VariantSpec("fp16"),
        VariantSpec("onnx", path=tmp_path / "missing.onnx"),
        VariantSpec("onnx", path=other_signature_model(tmp_path)),
    )
    result = run_shadow(digits.path, recorded_from_feeds(digits.feeds(60)), ShadowOptions(variants=specs))
    assert [r.key for r in result.variants] == ["fp16"]
    errors = {failure.name: failure.error for failure in result.failures}
    assert "not found" in errors["missing.onnx"]
    assert "does not match the baseline's inputs" in errors["other_signature.onnx"]
    assert "missing.onnx: not built" in result.recommendation.explanation


def test_missing_baseline_and_empty_inputs_are_clear_errors(digits: BuiltModel, tmp_path: Path) -> None:
    """No baseline artifact and no recorded inputs each raise their own error."""
    with pytest.raises(ArtifactNotFoundError, match="baseline artifact not found"):
        run_shadow(tmp_path / "absent.onnx", recorded_from_feeds(digits.feeds(5)))
    with pytest.raises(NoRecordedInputsError, match="no recorded inputs"):
        run_shadow(digits.path, [])


def test_progress_json_and_report(tiny: BuiltModel) -> None:
    """Progress reaches the total in each phase; the result is strict JSON; the report is self-contained SVG."""
    seen: list[tuple[int, int, str]] = []
    options = ShadowOptions(variants=(VariantSpec("fp16"),), early_stop=False)
    result = run_shadow(tiny.path, recorded_from_feeds(tiny.feeds(50)), options, progress=lambda *e: seen.append(e))
    replay = [event for event in seen if event[2] == "replay"]
    assert replay[-1][:2] == (50, 50)
    assert [e[0] for e in replay] == sorted(e[0] for e in replay)
    assert {"build", "replay", "throughput"} <= {event[2] for event in seen}
    data = json.loads(result.to_json())
    assert data["recommendation"]["decision"] in {"switch", "keep"}
    assert data["results"][0]["measurement"]["p50_ms"] > 0
    baseline, fp16 = data["results"]
    assert [point["batch"] for point in fp16["measurement"]["batch_curve"]] == [1, 2, 4, 8, 16, 32, 64]
    assert fp16["measurement"]["batch_curve"][0]["cost_per_1k_usd"] is None  # no price given
    assert len(baseline["measurement"]["throughput_rounds_rps"]) == ReplayOptions().throughput_rounds
    assert data["recommendation"]["headline"] == data["recommendation"]["explanation"].splitlines()[0]
    html = render_html(result)
    assert html.count("<svg") == 3  # latency, agreement, batch curves
    assert "Verdicts: bounds against margins" in html
    assert "agreement ≥ " in html
    assert escape(result.recommendation.headline) in html
    assert "<td>fp16</td><td>cpu</td><td>64</td>" in html
    assert "<script" not in html
    assert "src=" not in html
    assert "href=" not in html


def test_import_shadow_does_not_load_onnxruntime() -> None:
    """Importing every shadow module leaves onnxruntime unloaded until a run needs it."""
    modules = (
        "compare,distill,errors,plan,prune,recommend,recorded,replay,report,result,runner,service,settings,"
        "tensors,variants"
    )
    code = f"import sys, shadow; from shadow import {modules}; print('onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_throughput_rounds_are_timed_paired_and_the_curve_spans_the_batch_sizes(tiny: BuiltModel) -> None:
    """Every throughput round lasts at least round_seconds (not 0.2 ms of noise), every model has one round per
    round index (paired), and the batch curve has a point per size, rows repeated past the 20 recorded."""
    feeds = tiny.feeds(20)
    models = [
        ModelToRun("baseline", tiny.path, "CPUExecutionProvider"),
        ModelToRun("copy", tiny.path, "CPUExecutionProvider"),
    ]
    options = ReplayOptions(throughput_rounds=4, round_seconds=0.02, curve_max_batch=24, curve_seconds=0.005)
    assert options.curve_sizes == (1, 2, 4, 8, 16, 24)
    with Replay(models, options, feeds) as replay:
        replay.run_throughput(feeds)
        replay.run_batch_curve(feeds)
        measured = replay.measurements()
    for m in measured.values():
        assert len(m.throughput_rounds_rps) == len(m.throughput_round_seconds) == 4
        assert min(m.throughput_round_seconds) >= 0.02
        assert [point.batch for point in m.batch_curve] == [1, 2, 4, 8, 16, 24]
        assert all(point.calls >= 1 and point.rows_per_s > 0 for point in m.batch_curve)
        assert all(point.p50_ms <= point.p99_ms for point in m.batch_curve)


def test_requests_that_cannot_be_stacked_get_a_batch_one_curve(tmp_path: Path) -> None:
    """Sequences of different lengths: the curve has batch 1 only, and the run still completes."""
    path, feeds = sequence_model(tmp_path)
    options = ReplayOptions(round_seconds=0.01, curve_seconds=0.005)
    with Replay([ModelToRun("baseline", path, "CPUExecutionProvider")], options, feeds) as replay:
        replay.run_throughput(feeds)
        replay.run_batch_curve(feeds)
        (measured,) = replay.measurements().values()
    assert [point.batch for point in measured.batch_curve] == [1]


def test_replay_options_name_the_bad_value() -> None:
    """Zero-length rounds and a zero curve limit are refused, naming the argument."""
    with pytest.raises(ValueError, match="`round_seconds` must be > 0 seconds, got 0"):
        ReplayOptions(round_seconds=0)
    with pytest.raises(ValueError, match="`curve_max_batch` must be > 0, got 0"):
        ReplayOptions(curve_max_batch=0)


def test_int8_that_breaks_only_a_rare_class_is_kept_naming_the_class_and_the_feature_range(tmp_path: Path) -> None:
    """int8 holds overall (agreement above the margin) but never predicts the rare class 4, which lives in the top
    range of feature 0: kept as "slice", naming both, with their numbers."""
    model = rare_class_model(tmp_path)
    options = ShadowOptions(
        variants=parse_variant_specs("int8-dynamic"),
        early_stop=False,
        margins=Margins(min_agreement_lower_bound=0.97),
        replay=ReplayOptions(round_seconds=0.02, curve_max_batch=4, curve_seconds=0.01),
    )
    result = run_shadow(model.path, recorded_from_feeds(model.feeds()), options)
    (variant,) = result.variants
    verdict = variant.verdict
    assert verdict is not None
    assert (verdict.quality, verdict.decision, verdict.keep_reason) == ("pass", "keep", "slice")
    failed = {s.name: s for s in verdict.slices if s.status == "fail"}
    assert "predicted class 4" in failed
    assert failed["predicted class 4"].text.startswith("predicted class 4: agreement 0/")
    feature_0 = [name for name in failed if name.startswith("feature 0 in [")]
    assert len(feature_0) == 1  # the top quartile of feature 0, where class 4 lives
    assert all(s.status != "fail" for s in verdict.slices if s.name.startswith(("predicted class 0", "feature 1")))
    assert "quality holds overall but not on predicted class 4" in result.recommendation.explanation
    data = json.loads(result.to_json())
    assert any(s["name"] == "predicted class 4" for s in data["results"][1]["verdict"]["slices"])


def test_slice_by_judges_a_recorded_segment(tmp_path: Path) -> None:
    """[shadow] slice_by = ["segment"]: requests tagged "vip" where int8 loses the rare class fail as a slice
    named by its value; the "standard" segment holds."""
    from shadow.recorded import RecordedInput

    model = rare_class_model(tmp_path)
    inputs = [
        RecordedInput(f"r{i}", i, feed, tags={"segment": "vip" if feed["x"][0, 0] > 1.5 else "standard"})
        for i, feed in enumerate(model.feeds())
    ]
    options = ShadowOptions(
        variants=parse_variant_specs("int8-dynamic"),
        early_stop=False,
        margins=Margins(min_agreement_lower_bound=0.97),
        replay=ReplayOptions(round_seconds=0.02, curve_max_batch=4, curve_seconds=0.01),
        slice_by=("segment",),
    )
    result = run_shadow(model.path, inputs, options)
    (variant,) = result.variants
    assert variant.verdict is not None
    statuses = {s.name: s.status for s in variant.verdict.slices}
    assert (statuses["segment = vip"], statuses["segment = standard"]) == ("fail", "pass")
    assert variant.verdict.keep_reason == "slice"


def test_two_priced_runs_of_an_equally_fast_variant_give_the_same_decision(tiny: BuiltModel, tmp_path: Path) -> None:
    """Cost noise is bounded: a near copy of the tiny model, priced like the baseline, is kept for no gain in
    both runs, its cost claim resting on a bound over five paired timed rounds, not on the luckiest round."""
    copy = _nudged_copy(tiny.path, tmp_path / "iris_copy.onnx")
    inputs = recorded_from_feeds(tiny.feeds())
    options = ShadowOptions(variants=(VariantSpec("onnx", path=copy),), prices={"cpu": 1.0})
    decisions = []
    for _ in range(2):
        result = run_shadow(tiny.path, inputs, options)
        (variant,) = result.variants
        assert variant.verdict is not None
        assert variant.verdict.cost is not None
        assert variant.verdict.cost.throughput is not None
        assert variant.verdict.cost.throughput.rounds == ReplayOptions().throughput_rounds
        assert variant.verdict.cost.improvement < result.margins.min_improvement
        decisions.append((result.recommendation.decision, result.recommendation.keep_reason))
    assert decisions == [("keep", "no_gain")] * 2
