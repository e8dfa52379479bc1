"""A ShadowService start request as a run plan: options from the request over the configured settings.

Zero and empty fields of the request mean "the server's setting" (the ``[shadow]`` and ``[pricing]``
sections), as the proto says; everything is validated before the run is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from google.protobuf import json_format

from inferwatch.v1 import shadow_service_pb2
from shadow.settings import ShadowSettings

if TYPE_CHECKING:
    from shadow.runner import ShadowOptions

_BUILTINS: Final = {
    shadow_service_pb2.BUILTIN_VARIANT_INT8_DYNAMIC: "int8-dynamic",
    shadow_service_pb2.BUILTIN_VARIANT_INT8_STATIC: "int8-static",
    shadow_service_pb2.BUILTIN_VARIANT_FLOAT16: "fp16",
    shadow_service_pb2.BUILTIN_VARIANT_PRUNE_25: "prune-25",
    shadow_service_pb2.BUILTIN_VARIANT_PRUNE_50: "prune-50",
    shadow_service_pb2.BUILTIN_VARIANT_DISTILL_MLP: "distill-mlp",
    shadow_service_pb2.BUILTIN_VARIANT_DISTILL_GBT: "distill-gbt",
}
DEFAULT_REQUESTS: Final = 1000
DEFAULT_BATCH_SIZE: Final = 32


@dataclass(frozen=True)
class RunPlan:
    """What a queued run will do, and the JSON stored with it."""

    options: ShadowOptions
    requests: int
    start_unix_nano: int | None
    end_unix_nano: int | None
    stored: dict[str, Any]


def plan_run(request: shadow_service_pb2.StartShadowRunRequest, settings: ShadowSettings) -> RunPlan:
    """The run a request asks for; ValueError names a bad field or an execution provider that is not here."""
    from shadow.replay import ReplayOptions
    from shadow.runner import ShadowOptions
    from shadow.variants import BUILTIN_KINDS, VariantSpec, choose_providers

    specs: list[VariantSpec] = []
    for i, spec in enumerate(request.variants):
        source = spec.WhichOneof("source")
        if source == "builtin" and spec.builtin in _BUILTINS:
            kind = _BUILTINS[spec.builtin]
            specs.append(VariantSpec(kind, None, spec.execution_provider or None, spec.hardware_class or None))  # type: ignore[arg-type]
        elif source == "onnx_path" and spec.onnx_path.endswith(".onnx"):
            # Not opened here: like a failed build, a missing file is reported on the run, and the rest still run.
            path = Path(spec.onnx_path)
            specs.append(VariantSpec("onnx", path, spec.execution_provider or None, spec.hardware_class or None))
        else:
            raise ValueError(f"`variants[{i}]` names neither a known built-in variant nor a path ending in .onnx")
        if spec.execution_provider and settings.executor == "local":
            # On Ray the provider is the worker's to have (a GPU node's), not this machine's.
            choose_providers(spec.execution_provider)  # ValueError naming what is present
    if not specs:
        specs = [VariantSpec(kind) for kind in BUILTIN_KINDS]
    margin = request.margin
    # Zero proto fields are unset: None keeps the configured value.
    margins_given = {
        "min_agreement_lower_bound": margin.min_agreement_lower_bound or None,
        "max_accuracy_loss_points": margin.max_accuracy_loss_points or None,
        "min_improvement": margin.min_improvement or None,
        "confidence": margin.confidence or None,
    }
    try:
        configured = settings.with_margins(**margins_given)
    except ValueError as error:
        raise ValueError(f"`margin`: {error}") from None
    start = end = None
    if request.HasField("sample_range"):
        if request.sample_range.HasField("start"):
            start = request.sample_range.start.ToNanoseconds()
        if request.sample_range.HasField("end"):
            end = request.sample_range.end.ToNanoseconds()
        if start is not None and end is not None and end <= start:
            raise ValueError("`sample_range.end` must be after `sample_range.start`")
    options = ShadowOptions(
        variants=tuple(specs),
        replay=ReplayOptions(batch_size=request.batch_size or DEFAULT_BATCH_SIZE),
        margins=configured.margins,
        early_stop=configured.early_stop and not request.disable_early_stop,
        looks=configured.looks,
        prices=configured.prices,
        provider_hardware=configured.provider_hardware,
        slice_by=configured.slice_by,
        executor=configured.executor,
        ray_address=configured.ray_address,
    )
    requests = request.requests or DEFAULT_REQUESTS
    stored = {
        "variants": [
            {
                "name": spec.name,
                "execution_provider": spec.execution_provider,
                "hardware_class": spec.hardware_class,
            }
            for spec in specs
        ],
        "requests": requests,
        "batch_size": options.replay.batch_size,
        "early_stop": options.early_stop,
        "margins": margins_given,
        "sample_range": [start, end],
        "executor": configured.executor,
        # The request itself, so that any replica can plan the run again when it resumes it after a restart.
        "start_request": json_format.MessageToDict(request, preserving_proto_field_name=True),
    }
    return RunPlan(options, requests, start, end, stored)
