"""Variant builders (int8 dynamic, int8 static, float16, user ONNX) and execution-provider choice.

Builders call ONNX Runtime's own tools rather than re-implementing them (research/shadow-anchors.md §2).
A variant that cannot be built becomes a ``VariantFailure``: it is reported, and the run goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import onnx

from shadow.errors import ArtifactNotFoundError, InputSignatureMismatchError, NotApplicableError
from shadow.tensors import Feed

VariantKind = Literal[
    "int8-dynamic", "int8-static", "fp16", "prune-25", "prune-50", "distill-mlp", "distill-gbt", "onnx"
]
# What a run builds unless told otherwise.
BUILTIN_KINDS: Final[tuple[VariantKind, ...]] = ("int8-dynamic", "int8-static", "fp16")
# Every kind a run can be asked for by name (pruning changes the model's quality by design, so it is opt-in).
NAMED_KINDS: Final[tuple[VariantKind, ...]] = (*BUILTIN_KINDS, "prune-25", "prune-50", "distill-mlp", "distill-gbt")
# Kinds that learn from recorded traffic, which is then held out of the replay so it cannot flatter them.
TRAFFIC_KINDS: Final = frozenset({"int8-static", "prune-25", "prune-50", "distill-mlp", "distill-gbt"})
# Students fitted on traffic: they need more of it held out than calibration does.
DISTILL_KINDS: Final = frozenset({"distill-mlp", "distill-gbt"})
CPU_PROVIDER: Final = "CPUExecutionProvider"
# Providers that run models; the Azure EP (present in every wheel) calls remote endpoints, so it is skipped.
_SKIPPED_PROVIDERS: Final = frozenset({"AzureExecutionProvider"})
# Ops whose census tells whether quantization really happened (a "static int8" graph may hold only weights).
_CENSUS_OPS: Final = (
    "MatMulInteger",
    "DynamicQuantizeLinear",
    "QLinearMatMul",
    "QGemm",
    "QuantizeLinear",
    "DequantizeLinear",
    "MatMul",
    "Gemm",
    "Cast",
)
# Ops that only a quantizer puts in a graph: none of them means that nothing was quantized.
_QUANTIZED_OPS: Final = frozenset(
    {
        "MatMulInteger",
        "ConvInteger",
        "DynamicQuantizeLinear",
        "DynamicQuantizeMatMul",
        "QuantizeLinear",
        "DequantizeLinear",
        "QGemm",
        "QAttention",
        "QEmbedLayerNormalization",
    }
)
# ORT's symbolic shape inference saves its partial result under this name in the working directory when it
# gives up (onnxruntime/tools/symbolic_shape_infer.py), and never removes it.
_SYMBOLIC_TEMP: Final = "sym_shape_infer_temp.onnx"


@dataclass(frozen=True)
class VariantSpec:
    """What to build: a built-in kind, or a user ONNX file; optional provider and pricing class."""

    kind: VariantKind
    path: Path | None = None
    execution_provider: str | None = None
    hardware_class: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "onnx" and self.path is None:
            raise ValueError("`path` is required for a variant of kind 'onnx'")
        if self.kind not in (*NAMED_KINDS, "onnx"):
            raise ValueError(f"`kind` must be one of {[*NAMED_KINDS, 'onnx']}, got {self.kind!r}")

    @property
    def name(self) -> str:
        """The variant's display name: the kind, or the user file's name."""
        return self.path.name if self.kind == "onnx" and self.path is not None else self.kind


@dataclass(frozen=True)
class Variant:
    """A built (or supplied) variant artifact."""

    name: str
    path: Path
    source: VariantKind | Literal["baseline"]
    size_bytes: int
    build_seconds: float = 0.0
    op_census: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    execution_provider: str | None = None
    hardware_class: str | None = None
    # Why the variant computes exactly what the baseline does (its builder changed nothing); None otherwise.
    unchanged: str | None = None
    # What a reader must know before trusting a gain (e.g. a static int8 graph that quantized weights only).
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class VariantFailure:
    """A variant that could not be built or validated, and why."""

    name: str
    source: VariantKind
    error: str
    # The variant family does not apply to this model: a note, not an error.
    skipped: bool = False


@dataclass(frozen=True)
class InputSpec:
    """One graph input as the signature check sees it."""

    name: str
    elem_type: int
    rank: int


def parse_variant_specs(text: str) -> tuple[VariantSpec, ...]:
    """Parse the CLI's ``--variants int8-dynamic,int8-static,fp16,path.onnx``."""
    specs: list[VariantSpec] = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        if raw in NAMED_KINDS:
            specs.append(VariantSpec(kind=raw))
        elif raw.endswith(".onnx"):
            specs.append(VariantSpec(kind="onnx", path=Path(raw)))
        else:
            raise ValueError(f"`variants`: {raw!r} is neither one of {list(NAMED_KINDS)} nor a path ending in .onnx")
    if not specs:
        raise ValueError(f"`variants` names no variant: {text!r}")
    return tuple(specs)


def load_model_proto(path: Path, what: str = "model") -> onnx.ModelProto:
    """Load an ONNX file, or ArtifactNotFoundError naming it."""
    if not path.is_file():
        raise ArtifactNotFoundError(f"{what} artifact not found: {path}")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError, OSError or its own errors on a bad file
        raise ArtifactNotFoundError(f"{what} artifact {path} is not a readable ONNX model: {error}") from None


def input_signature(model: onnx.ModelProto) -> tuple[InputSpec, ...]:
    """The graph's real inputs (initializers that old exporters list as inputs are left out)."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    return tuple(
        InputSpec(value.name, value.type.tensor_type.elem_type, len(value.type.tensor_type.shape.dim))
        for value in model.graph.input
        if value.name not in initializers
    )


def check_signature(baseline: Sequence[InputSpec], candidate: Sequence[InputSpec], name: str) -> None:
    """Raise InputSignatureMismatchError naming every input that differs between baseline and ``name``."""
    base = {spec.name: spec for spec in baseline}
    cand = {spec.name: spec for spec in candidate}
    problems = [f"missing input {key!r}" for key in base.keys() - cand.keys()]
    problems += [f"unexpected input {key!r}" for key in cand.keys() - base.keys()]
    for key in sorted(base.keys() & cand.keys()):
        want, got = base[key], cand[key]
        if want.elem_type != got.elem_type:
            want_type = onnx.TensorProto.DataType.Name(want.elem_type)
            got_type = onnx.TensorProto.DataType.Name(got.elem_type)
            problems.append(f"input {key!r} has element type {got_type}, baseline has {want_type}")
        if want.rank != got.rank:
            problems.append(f"input {key!r} has rank {got.rank}, baseline has rank {want.rank}")
    if problems:
        raise InputSignatureMismatchError(
            f"variant {name!r} does not match the baseline's inputs: " + "; ".join(sorted(problems))
        )


def op_census(model: onnx.ModelProto) -> dict[str, int]:
    """How many of the quantization-relevant ops the graph holds, plus float16 initializers."""
    counts = Counter(node.op_type for node in model.graph.node)
    census = {op: counts[op] for op in _CENSUS_OPS if counts.get(op)}
    fp16 = sum(1 for tensor in model.graph.initializer if tensor.data_type == onnx.TensorProto.FLOAT16)
    if fp16:
        census["fp16_initializers"] = fp16
    return census


def _fingerprint(model: onnx.ModelProto) -> tuple[Counter[tuple[str, str]], list[tuple[int, str]]]:
    """The graph's ops and weights, ignoring names and order: two graphs with the same fingerprint compute alike."""
    ops = Counter((node.domain or "ai.onnx", node.op_type) for node in model.graph.node)
    weights = sorted(
        (tensor.data_type, hashlib.sha256(tensor.SerializeToString(deterministic=True)).hexdigest())
        for tensor in (_unnamed(tensor) for tensor in model.graph.initializer)
    )
    return ops, weights


def _unnamed(tensor: onnx.TensorProto) -> onnx.TensorProto:
    """A copy of an initializer without its name, so that a renamed weight still matches."""
    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    copy.name = ""
    return copy


def quantized_op_count(model: onnx.ModelProto) -> int:
    """How many nodes only a quantizer would have put there (QLinear*, *Integer, (De)QuantizeLinear, ...)."""
    return sum(1 for node in model.graph.node if node.op_type in _QUANTIZED_OPS or node.op_type.startswith("QLinear"))


def unchanged_reason(baseline: onnx.ModelProto, variant: onnx.ModelProto, kind: VariantKind) -> str | None:
    """Why ``variant`` computes what ``baseline`` does, or None when its builder changed something.

    A quantizer that finds no op it supports (a graph of ``ai.onnx.ml`` ops, say) writes the graph back
    unchanged; measuring that copy against the baseline can only show noise as a gain.
    """
    if _fingerprint(baseline) == _fingerprint(variant):
        return "its graph is the baseline's: the builder changed nothing"
    if kind in ("int8-dynamic", "int8-static") and quantized_op_count(variant) == 0:
        return f"{kind} quantized no op (no op in this graph is one ONNX Runtime's quantizer supports)"
    if (
        kind == "fp16"
        and not any(tensor.data_type == onnx.TensorProto.FLOAT16 for tensor in variant.graph.initializer)
        and not any(
            node.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16 for a in node.attribute)
            for node in variant.graph.node
        )
    ):
        return "fp16 converted no tensor to float16"
    return None


def weights_only_caveat(variant: onnx.ModelProto) -> str | None:
    """A QDQ graph whose QuantizeLinear nodes all read initializers quantized weights but no activation."""
    if not any(node.op_type == "DequantizeLinear" for node in variant.graph.node):
        return None
    constants = {tensor.name for tensor in variant.graph.initializer}
    constants |= {out for node in variant.graph.node if node.op_type == "Constant" for out in node.output}
    if any(node.op_type == "QuantizeLinear" and node.input[0] not in constants for node in variant.graph.node):
        return None
    return (
        "weights only: no QuantizeLinear on activations, so every op still computes in float "
        "(the int8 weights are dequantized first); expect a smaller file, not faster compute"
    )


def available_providers() -> tuple[str, ...]:
    """Execution providers present in this ONNX Runtime build that run models locally; CPU is always there."""
    import onnxruntime

    present = [name for name in onnxruntime.get_available_providers() if name not in _SKIPPED_PROVIDERS]
    return tuple(present) if CPU_PROVIDER in present else (*present, CPU_PROVIDER)


def choose_providers(requested: str | None) -> tuple[str, ...]:
    """The providers a variant runs on: the requested one (if present), else every present one."""
    present = available_providers()
    if requested:
        if requested not in present:
            raise ValueError(f"`execution_provider` {requested!r} is not available here; present: {list(present)}")
        return (requested,)
    return present


class _RecordedReader:
    """A rewindable CalibrationDataReader over recorded feeds (duck-typed: ORT only calls these two)."""

    def __init__(self, feeds: Sequence[Feed]) -> None:
        self._feeds = list(feeds)
        self._it: Iterator[Feed] = iter(self._feeds)

    def get_next(self) -> Feed | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)


class _DropQuantizerChatter(logging.Filter):
    """Drops ONNX Runtime's records below ERROR: per-tensor INFO lines, and advice to pre-process that the
    builders already follow."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "onnxruntime" not in record.pathname:
            return True
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Keep ONNX Runtime's quantization tools off the user's stderr and out of their logging setup.

    Importing ``onnxruntime.quantization`` runs ``logging.basicConfig(level=INFO)`` (matmul_nbits_quantizer),
    which adds a stderr handler to the root logger of whatever process imports it; the quantizers then call
    ``logging.info``/``warning`` on the root logger (per-tensor INFO lines, advice to pre-process). The root
    logger belongs to the application, so its handlers and level are put back, and ORT's records are dropped
    while a builder runs. An ERROR still gets through.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatter = _DropQuantizerChatter()
    root.addFilter(chatter)
    ort = logging.getLogger("onnxruntime")
    ort_level = ort.level
    ort.setLevel(logging.ERROR)
    try:
        import onnxruntime
        import onnxruntime.quantization  # its import side effect is what is undone below

        # The calibration sessions log C++ warnings (unused initializers) at ORT's default severity. ORT has
        # no getter to restore it from; only shadow/ uses ORT, and its replay sessions set their own level.
        onnxruntime.set_default_logger_severity(3)

        yield
    finally:
        root.removeFilter(chatter)
        ort.setLevel(ort_level)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def _preprocess(src: Path, dst: Path) -> str:
    """ORT's quant_pre_process; graphs with ai.onnx.ml ops (or no sympy) need the symbolic step skipped."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Symbolic shape inference knows no ai.onnx.ml op; trying it only leaves its temp file behind.
    domains = {node.domain for node in load_model_proto(src).graph.node}
    if domains <= {"", "ai.onnx"}:
        temp = Path.cwd() / _SYMBOLIC_TEMP
        existed = {path: path.exists() for path in (temp, temp.with_name(temp.name + ".data"))}
        try:
            quant_pre_process(str(src), str(dst))
            return "pre_process=full"
        except Exception:  # seen: "Incomplete symbolic shape inference", ImportError for sympy
            pass
        finally:
            # Only a file this call created is removed: one that was there before is the user's.
            for path, was_there in existed.items():
                if not was_there:
                    path.unlink(missing_ok=True)
    quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    return "pre_process=skip_symbolic_shape"


def _build_dynamic(src: Path, dst: Path, _calibration: Sequence[Feed]) -> tuple[str, ...]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    pre = dst.with_suffix(".pre.onnx")
    notes = [_preprocess(src, pre), "weights QInt8 per tensor, activations QUInt8 at run time"]
    try:
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
    except Exception as error:  # as for static: fall back to the graph as exported
        notes.append(f"pre-processed graph failed ({type(error).__name__}); quantized the original")
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        pre.unlink(missing_ok=True)
    return tuple(notes)


def _build_static(src: Path, dst: Path, calibration: Sequence[Feed]) -> tuple[str, ...]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("int8-static needs recorded inputs to calibrate on, got none")
    pre = dst.with_suffix(".pre.onnx")
    notes = [_preprocess(src, pre), f"calibrated on {len(calibration)} recorded inputs (MinMax)"]
    # ORT's advice for x86 (quantize_static docstring): QDQ, U8 activations, S8 weights, reduce_range
    # unless the CPU has VNNI; we cannot tell VNNI apart portably, so take the safe setting.
    kwargs: dict[str, Any] = {
        "quant_format": QuantFormat.QDQ,
        "activation_type": QuantType.QUInt8,
        "weight_type": QuantType.QInt8,
        "calibrate_method": CalibrationMethod.MinMax,
        "reduce_range": True,
    }
    try:
        quantize_static(str(pre), str(dst), _RecordedReader(calibration), **kwargs)
    except Exception as error:  # seen: quantizer crashes on some pre-processed sklearn graphs
        notes.append(f"pre-processed graph failed ({type(error).__name__}); quantized the original")
        quantize_static(str(src), str(dst), _RecordedReader(calibration), **kwargs)
    finally:
        pre.unlink(missing_ok=True)
    return tuple(notes)


def _build_fp16(src: Path, dst: Path, _calibration: Sequence[Feed]) -> tuple[str, ...]:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))
    return ("onnxruntime.transformers.float16, keep_io_types=True",)


def _single_opset_per_domain(proto: onnx.ModelProto, path: Path, workdir: Path) -> Path:
    """``path``, or a copy in ``workdir`` that imports each domain once.

    skl2onnx called with a ``target_opset`` dict imports the default domain twice, and ORT's quantizer then
    fails with "Failed to find proper ai.onnx domain"; ONNX Runtime itself runs such a model.
    """
    domains = [entry.domain or "ai.onnx" for entry in proto.opset_import]
    if len(domains) == len(set(domains)):
        return path
    versions: dict[str, int] = {}
    for entry in proto.opset_import:
        versions[entry.domain] = max(versions.get(entry.domain, 0), entry.version)
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    del copy.opset_import[:]
    copy.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in versions.items())
    fixed = workdir / f"{path.stem}.opsets.onnx"
    onnx.save(copy, str(fixed))
    return fixed


def _build_prune_25(src: Path, dst: Path, calibration: Sequence[Feed]) -> tuple[str, ...]:
    from shadow.prune import prune_model

    return prune_model(src, dst, 0.25, calibration)


def _build_prune_50(src: Path, dst: Path, calibration: Sequence[Feed]) -> tuple[str, ...]:
    from shadow.prune import prune_model

    return prune_model(src, dst, 0.50, calibration)


def _build_distill_mlp(src: Path, dst: Path, traffic: Sequence[Feed]) -> tuple[str, ...]:
    from shadow.distill import distill_model

    return distill_model(src, dst, "mlp", traffic)


def _build_distill_gbt(src: Path, dst: Path, traffic: Sequence[Feed]) -> tuple[str, ...]:
    from shadow.distill import distill_model

    return distill_model(src, dst, "gbt", traffic)


_BUILDERS: Final = {
    "int8-dynamic": _build_dynamic,
    "int8-static": _build_static,
    "fp16": _build_fp16,
    "prune-25": _build_prune_25,
    "prune-50": _build_prune_50,
    "distill-mlp": _build_distill_mlp,
    "distill-gbt": _build_distill_gbt,
}


def build_variant(
    baseline: Path, spec: VariantSpec, workdir: Path, calibration: Sequence[Feed] = ()
) -> Variant | VariantFailure:
    """Build or validate one variant; every failure comes back as a VariantFailure naming its cause."""
    base_proto = load_model_proto(baseline, "baseline")
    started = time.perf_counter()
    try:
        if spec.kind == "onnx":
            assert spec.path is not None  # checked in VariantSpec
            path, notes = spec.path, ("user-supplied",)
            notes_out: tuple[str, ...] = notes
        else:
            path = workdir / f"{baseline.stem}.{spec.kind}.onnx"
            source = _single_opset_per_domain(base_proto, baseline, workdir)
            with _quiet_quantizer():
                notes_out = _BUILDERS[spec.kind](source, path, calibration)
        proto = load_model_proto(path, f"variant {spec.name!r}")
        check_signature(input_signature(base_proto), input_signature(proto), spec.name)
    except NotApplicableError as error:
        return VariantFailure(spec.name, spec.kind, str(error), skipped=True)
    except Exception as error:  # a variant that cannot be built is reported, not fatal to the run
        return VariantFailure(spec.name, spec.kind, f"{type(error).__name__}: {error}")
    unchanged = unchanged_reason(base_proto, proto, spec.kind)
    caveat = weights_only_caveat(proto) if spec.kind == "int8-static" and unchanged is None else None
    if spec.kind in DISTILL_KINDS:
        caveat = (
            f"trained on traffic: a student fitted on {len(calibration)} recorded inputs (held out of the replay) "
            "against the baseline's outputs; judged only on the rest, and only as good as future traffic "
            "resembles what it learned from"
        )
    return Variant(
        name=spec.name,
        path=path,
        source=spec.kind,
        size_bytes=path.stat().st_size,
        build_seconds=time.perf_counter() - started,
        op_census=op_census(proto),
        notes=notes_out,
        execution_provider=spec.execution_provider,
        hardware_class=spec.hardware_class,
        unchanged=unchanged,
        caveats=(caveat,) if caveat else (),
    )


def baseline_variant(path: Path, hardware_class: str | None = None) -> Variant:
    """The baseline as a Variant, after checking that its artifact exists and parses."""
    proto = load_model_proto(path, "baseline")
    return Variant(
        "baseline", path, "baseline", path.stat().st_size, op_census=op_census(proto), hardware_class=hardware_class
    )


def build_variants(
    baseline: Path, specs: Sequence[VariantSpec], workdir: Path, calibration: Sequence[Feed] = ()
) -> tuple[Variant | VariantFailure, ...]:
    """Build every spec in order; raises only when the baseline itself is missing or unreadable."""
    load_model_proto(baseline, "baseline")
    workdir.mkdir(parents=True, exist_ok=True)
    return tuple(build_variant(baseline, spec, workdir, calibration) for spec in specs)
