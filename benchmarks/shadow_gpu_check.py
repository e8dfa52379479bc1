"""The shadow runner on a GPU: does each variant bind CUDA, what does it measure there, and how is it priced?

For a machine with an NVIDIA GPU and ``onnxruntime-gpu`` in place of ``onnxruntime`` (the device machines
reach no package index, so carry the wheel in). It runs the digits MLP and a 3x1024 MLP through
``run_shadow`` with int8-dynamic and float16 variants on every provider present, and prints one row per run:
the provider ONNX Runtime bound, the hardware class it is priced by, batch-1 p50 and p99, throughput, the
agreement bound and the verdict. Exit status 1 when a run asked for CUDA and did not get it (ORT's quiet
fallback to CPU); 0 otherwise, also on a machine without CUDA, where it prints the CPU rows and says so.

Run: ``.venv/bin/python benchmarks/shadow_gpu_check.py [--requests 400]`` (about a minute).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import onnxruntime

from benchmarks.shadow_overhead import wide_mlp
from collector.core.pricing import Pricing
from shadow.hardware import detected_nvidia_class
from shadow.result import ShadowResult
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.variants import VariantSpec
from tests.shadow.models import BuiltModel, digits_mlp


def _rows(name: str, result: ShadowResult) -> list[str]:
    lines = []
    for run in result.results:
        m = run.measurement
        agreement = run.comparison.agreement if run.comparison else None
        verdict = run.verdict
        outcome = (
            m.error
            if m.error
            else (verdict.decision + (f" ({verdict.keep_reason})" if verdict.keep_reason else ""))
            if verdict
            else "baseline"
        )
        lines.append(
            f"| {name} | {run.key} | {m.execution_provider} | {m.hardware_class} | {m.p50_ms:.4f} | {m.p99_ms:.4f} "
            f"| {m.throughput_rps:,.0f} @{m.throughput_batch} | "
            f"{f'{agreement.lower:.4f}' if agreement else '-'} | {outcome} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    providers = onnxruntime.get_available_providers()
    print(f"onnxruntime {onnxruntime.__version__}; providers {providers}; nvidia-smi class {detected_nvidia_class()}")
    options = ShadowOptions(
        variants=(VariantSpec("int8-dynamic"), VariantSpec("fp16")),
        early_stop=False,
        prices=dict(Pricing().hardware),
    )
    print(
        "| model | run | bound provider | hardware class | p50 ms | p99 ms | rows/s @batch | agreement lb | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    fell_back = []
    with tempfile.TemporaryDirectory() as scratch:
        models: dict[str, BuiltModel] = {
            "digits_mlp128": digits_mlp(Path(scratch)),
            "wide_mlp3x1024": wide_mlp(Path(scratch), args.requests),
        }
        for name, model in models.items():
            labels = model.labels[: args.requests] if model.labels else None
            result = run_shadow(model.path, recorded_from_feeds(model.feeds(args.requests), labels), options)
            print("\n".join(_rows(name, result)))
            fell_back += [
                f"{name} {run.key}: {run.measurement.error}"
                for run in result.results
                if "@CUDAExecutionProvider" in run.key and run.measurement.error
            ]
            print(f"  {name}: {result.recommendation.explanation.splitlines()[0]}")
    if "CUDAExecutionProvider" not in providers:
        print("CUDAExecutionProvider is not in this ONNX Runtime build: CPU rows only, nothing on a GPU was checked")
    for line in fell_back:
        print(f"FAILED: {line}")
    return 1 if fell_back else 0


if __name__ == "__main__":
    sys.exit(main())
