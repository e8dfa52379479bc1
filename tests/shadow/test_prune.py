"""Structured pruning: whole hidden units removed, ranked on recorded traffic; skipped where it does not apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import numpy_helper

from shadow.errors import NotApplicableError
from shadow.prune import find_hidden_layers, prune_model
from shadow.replay import ReplayOptions
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.variants import Variant, VariantFailure, build_variants, parse_variant_specs
from tests.shadow.models import BuiltModel, iris_tree_pipeline, relu_mlp

FAST = ReplayOptions(round_seconds=0.01, curve_max_batch=4, curve_seconds=0.005)


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    return {t.name: tuple(t.dims) for t in onnx.load(str(path)).graph.initializer}


def test_pruning_removes_whole_units_and_keeps_a_dense_model(tmp_path: Path) -> None:
    """Half of every hidden layer goes: weights shrink on both sides of each unit, and the model still runs."""
    model = relu_mlp(tmp_path)
    assert [layer.weight for layer in find_hidden_layers(onnx.load(str(model.path)))] == ["w0", "w1", "w2"]
    pruned = tmp_path / "pruned.onnx"
    notes = prune_model(model.path, pruned, 0.5, model.feeds(100))
    assert _shapes(pruned) == {"w0": (64, 128), "w1": (128, 128), "w2": (128, 128), "w3": (128, 10)}
    assert "w0: 256 -> 128 units" in notes
    session = onnxruntime.InferenceSession(str(pruned), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": model.rows[:8]})
    assert out.shape == (8, 10)
    assert np.allclose(out.sum(axis=1), 1, atol=1e-5)


def test_a_unit_that_never_fires_is_the_first_to_go(tmp_path: Path) -> None:
    """Known answer: unit 0 of the first layer has zero weights, so its activation is 0 and it is dropped even at
    the smallest ratio, while the next layer loses exactly its row."""
    model = relu_mlp(tmp_path, widths=(8, 16, 4), rows=200)
    pruned = tmp_path / "pruned.onnx"
    prune_model(model.path, pruned, 1 / 16, model.feeds(200))
    original = numpy_helper.to_array(next(t for t in onnx.load(str(model.path)).graph.initializer if t.name == "w1"))
    kept = numpy_helper.to_array(next(t for t in onnx.load(str(pruned)).graph.initializer if t.name == "w1"))
    assert kept.shape == (15, 4)
    assert np.array_equal(kept, original[1:])
    # Removing a unit that is always 0 changes nothing the model computes.
    feed = {"x": model.rows[:50]}
    before = onnxruntime.InferenceSession(str(model.path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    after = onnxruntime.InferenceSession(str(pruned), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    assert np.allclose(before, after, atol=1e-6)


def test_sklearn_mlp_with_bias_is_pruned_and_judged(digits: BuiltModel, tmp_path: Path) -> None:
    """The skl2onnx digits MLP (MatMul, Add with a (1, 128) bias, Relu, MatMul): 128 -> 96 units, judged on
    replayed traffic that the pruning never saw."""
    assert digits.labels is not None
    (built,) = build_variants(digits.path, parse_variant_specs("prune-25"), tmp_path, digits.feeds(50))
    assert isinstance(built, Variant)
    shapes = _shapes(built.path)
    assert (shapes["coefficient"], shapes["intercepts"], shapes["coefficient1"]) == ((64, 96), (1, 96), (96, 10))
    options = ShadowOptions(variants=parse_variant_specs("prune-25"), early_stop=False, replay=FAST)
    result = run_shadow(digits.path, recorded_from_feeds(digits.feeds(), digits.labels), options)
    (variant,) = result.variants
    assert variant.variant.notes[1] == "coefficient: 128 -> 96 units"
    assert variant.comparison is not None
    assert variant.comparison.agreement is not None
    assert variant.verdict is not None
    assert result.calibration_requests > 0
    assert result.requests_replayed + result.calibration_requests == len(digits.rows)


def test_pruning_is_skipped_with_a_note_where_it_does_not_apply(tmp_path: Path) -> None:
    """A tree pipeline has no MatMul chain: prune-25 is skipped (not an error), and the run still judges fp16."""
    model = iris_tree_pipeline(tmp_path)
    built = build_variants(model.path, parse_variant_specs("prune-25"), tmp_path / "out", model.feeds(20))
    (skipped,) = built
    assert isinstance(skipped, VariantFailure)
    assert skipped.skipped
    assert "nothing to prune" in skipped.error
    options = ShadowOptions(variants=parse_variant_specs("prune-25,int8-dynamic"), early_stop=False, replay=FAST)
    result = run_shadow(model.path, recorded_from_feeds(model.feeds()), options)
    assert [r.key for r in result.variants] == ["int8-dynamic"]
    assert "prune-25: skipped, does not apply (no chain of MatMul/Gemm layers" in result.recommendation.explanation
    assert "not built" not in result.recommendation.explanation


def test_pruning_needs_traffic_and_a_sane_ratio(tmp_path: Path) -> None:
    """No recorded inputs: not applicable; a ratio outside (0, 1) is refused naming the argument."""
    model = relu_mlp(tmp_path, widths=(8, 16, 4), rows=10)
    with pytest.raises(NotApplicableError, match="no recorded inputs"):
        prune_model(model.path, tmp_path / "p.onnx", 0.5, [])
    with pytest.raises(ValueError, match="`ratio` must be in"):
        prune_model(model.path, tmp_path / "p.onnx", 1.0, model.feeds(4))
    built = build_variants(model.path, parse_variant_specs("prune-50"), tmp_path / "out", model.feeds(10))
    assert isinstance(built[0], Variant)
