"""Variant builders, signature checks and execution providers."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from shadow.errors import ArtifactNotFoundError, InputSignatureMismatchError
from shadow.runner import provider_runs
from shadow.variants import (
    CPU_PROVIDER,
    Variant,
    VariantFailure,
    VariantSpec,
    available_providers,
    build_variants,
    check_signature,
    choose_providers,
    input_signature,
    load_model_proto,
    parse_variant_specs,
    weights_only_caveat,
)
from tests.shadow.models import (
    BuiltModel,
    iris_tree_pipeline,
    other_signature_model,
    weights_only_qdq_model,
)


def test_builtin_variants_build_and_really_quantize(digits: BuiltModel, tmp_path: Path) -> None:
    """int8-dynamic, int8-static and fp16 build on the digits MLP, each with the ops its method implies."""
    specs = parse_variant_specs("int8-dynamic,int8-static,fp16")
    built = build_variants(digits.path, specs, tmp_path, digits.feeds(32))
    assert all(isinstance(item, Variant) for item in built), built
    dynamic, static, fp16 = (item for item in built if isinstance(item, Variant))
    assert dynamic.op_census.get("MatMulInteger", 0) > 0
    assert static.op_census.get("QuantizeLinear", 0) > 0
    assert fp16.op_census.get("fp16_initializers", 0) > 0
    assert dynamic.size_bytes < digits.path.stat().st_size
    assert any("calibrated on 32" in note for note in static.notes)
    assert (dynamic.unchanged, static.unchanged, fp16.unchanged) == (None, None, None)
    # The static graph quantizes activations too, so it carries no weights-only caveat.
    assert static.caveats == ()


def test_a_graph_no_builder_can_change_is_marked_unchanged(tmp_path: Path) -> None:
    """A pipeline of ai.onnx.ml ops as skl2onnx exports it (the default domain imported twice): both int8
    builders run, quantize no op, and say so."""
    model = iris_tree_pipeline(tmp_path)
    specs = parse_variant_specs("int8-dynamic,int8-static,fp16")
    built = build_variants(model.path, specs, tmp_path / "variants", model.feeds(32))
    assert all(isinstance(item, Variant) for item in built), built
    reasons = {item.name: item.unchanged for item in built if isinstance(item, Variant)}
    assert reasons["int8-dynamic"] is not None
    assert "quantized no op" in reasons["int8-dynamic"] or "builder changed nothing" in reasons["int8-dynamic"]
    assert reasons["int8-static"] is not None


def test_a_static_graph_with_quantized_weights_only_says_so(tmp_path: Path) -> None:
    """DequantizeLinear on an int8 weight with no QuantizeLinear on any activation: the weights-only caveat."""
    caveat = weights_only_caveat(load_model_proto(weights_only_qdq_model(tmp_path)))
    assert caveat is not None
    assert caveat.startswith("weights only: no QuantizeLinear on activations")


def test_builders_leave_no_file_in_the_working_directory(
    digits: BuiltModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ORT's symbolic shape inference saves sym_shape_infer_temp.onnx in the cwd when it gives up; not here."""
    pytest.importorskip("sympy")  # without sympy ORT never gets as far as writing the file
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    built = build_variants(
        digits.path, parse_variant_specs("int8-dynamic,int8-static"), tmp_path / "out", digits.feeds(16)
    )
    assert all(isinstance(item, Variant) for item in built), built
    assert sorted(os.listdir(cwd)) == []


def test_builders_write_nothing_to_stderr_and_leave_logging_alone(digits: BuiltModel, tmp_path: Path) -> None:
    """A fresh process builds every variant: no ORT INFO/WARNING line on stderr, no handler left on root."""
    code = (
        "import logging, sys; from pathlib import Path; import numpy as np\n"
        "from shadow.variants import build_variants, parse_variant_specs\n"
        f"rows = np.load({str(tmp_path / 'rows.npy')!r})\n"
        f"feeds = [{{{digits.input_name!r}: rows[i : i + 1]}} for i in range(len(rows))]\n"
        f"built = build_variants(Path({str(digits.path)!r}), parse_variant_specs('int8-dynamic,int8-static,fp16'), "
        f"Path({str(tmp_path / 'out')!r}), feeds)\n"
        "print(len(built), logging.getLogger().handlers, logging.getLogger().level)\n"
    )
    import numpy as np

    np.save(tmp_path / "rows.npy", digits.rows[:16])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stderr == ""
    assert out.stdout.strip() == "3 [] 30"


def test_static_without_calibration_data_is_a_reported_failure(digits: BuiltModel, tmp_path: Path) -> None:
    """int8-static with no recorded inputs fails as a VariantFailure that says why."""
    (failure,) = build_variants(digits.path, (VariantSpec("int8-static"),), tmp_path, ())
    assert isinstance(failure, VariantFailure)
    assert "needs recorded inputs" in failure.error


def test_user_variant_with_other_signature_is_named(digits: BuiltModel, tmp_path: Path) -> None:
    """A user ONNX with another input name, type and rank fails, and the error names each mismatch."""
    other = other_signature_model(tmp_path)
    (failure,) = build_variants(digits.path, (VariantSpec("onnx", path=other),), tmp_path)
    assert isinstance(failure, VariantFailure)
    assert "missing input" in failure.error
    assert "unexpected input 'tokens'" in failure.error
    base = input_signature(load_model_proto(digits.path))
    with pytest.raises(InputSignatureMismatchError, match="rank 3, baseline has rank 2"):
        check_signature(base, [base[0].__class__(base[0].name, base[0].elem_type, 3)], "v")


def test_missing_artifacts_are_clear_errors(digits: BuiltModel, tmp_path: Path) -> None:
    """A missing baseline raises; a missing user variant is a failure naming its path."""
    with pytest.raises(ArtifactNotFoundError, match="baseline artifact not found"):
        build_variants(tmp_path / "nope.onnx", (VariantSpec("fp16"),), tmp_path)
    (failure,) = build_variants(digits.path, (VariantSpec("onnx", path=tmp_path / "gone.onnx"),), tmp_path)
    assert isinstance(failure, VariantFailure)
    assert "gone.onnx" in failure.error
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ArtifactNotFoundError, match="not a readable ONNX model"):
        load_model_proto(tmp_path / "junk.onnx")


def test_parse_variant_specs_rejects_unknown_names() -> None:
    """Built-in names and .onnx paths parse; anything else is named in the error."""
    specs = parse_variant_specs("int8-dynamic, fp16 ,my/model.onnx")
    assert [spec.name for spec in specs] == ["int8-dynamic", "fp16", "model.onnx"]
    with pytest.raises(ValueError, match="'int4'"):
        parse_variant_specs("int4")


def test_providers_always_include_cpu() -> None:
    """CPU is always available; asking for an absent provider names what is present."""
    assert CPU_PROVIDER in available_providers()
    assert choose_providers(CPU_PROVIDER) == (CPU_PROVIDER,)
    with pytest.raises(ValueError, match="not available here"):
        choose_providers("NoSuchExecutionProvider")


def test_run_keys_name_each_provider(monkeypatch: pytest.MonkeyPatch, digits: BuiltModel) -> None:
    """With CUDA and TensorRT present, a variant runs on each: ``name@provider`` keys, plain name on CPU."""
    # CI has CPU only: this checks provider selection and naming, not results on a GPU.
    present = ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU_PROVIDER, "AzureExecutionProvider"]
    monkeypatch.setattr("onnxruntime.get_available_providers", lambda: present)
    fp16 = Variant("fp16", digits.path, "fp16", 1)
    monkeypatch.setenv("PATH", "")  # no nvidia-smi: a GPU run's class comes from the mapping or is unknown
    runs = provider_runs([fp16])
    assert list(runs) == ["fp16@TensorrtExecutionProvider", "fp16@CUDAExecutionProvider", "fp16"]
    assert {key: v.execution_provider for key, v in runs.items()} == {
        "fp16@TensorrtExecutionProvider": "TensorrtExecutionProvider",
        "fp16@CUDAExecutionProvider": "CUDAExecutionProvider",
        "fp16": CPU_PROVIDER,
    }
    assert {key: v.hardware_class for key, v in runs.items()} == {
        "fp16@TensorrtExecutionProvider": None,
        "fp16@CUDAExecutionProvider": None,
        "fp16": "cpu",
    }
    mapped = provider_runs([fp16], "cpu", {"CUDAExecutionProvider": "nvidia-l4"})
    assert mapped["fp16@CUDAExecutionProvider"].hardware_class == "nvidia-l4"
    assert mapped["fp16@TensorrtExecutionProvider"].hardware_class is None
    pinned = provider_runs([replace(fp16, execution_provider="CUDAExecutionProvider", hardware_class="nvidia-t4")])
    assert list(pinned) == ["fp16@CUDAExecutionProvider"]
    assert pinned["fp16@CUDAExecutionProvider"].hardware_class == "nvidia-t4"
    with pytest.raises(ValueError, match="'OpenVINOExecutionProvider' is not available here"):
        provider_runs([replace(fp16, execution_provider="OpenVINOExecutionProvider")])
