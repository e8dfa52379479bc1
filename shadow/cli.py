"""`inferwatch models ...` and `inferwatch shadow run`: the command-line side of the registry and the runner.

The composition root's CLI mounts these with ``add_commands``; each handler takes the parsed arguments and
the resolved database URL (``shadow`` handlers also the ``[shadow]`` settings) and returns an exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from collector.core.cli_args import add_db_flags
from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import MODEL_TASKS
from shadow.registry import ModelVersion, latest_version, list_model_versions, register_model_version

if TYPE_CHECKING:
    from shadow.settings import ShadowSettings

Handler = Callable[[argparse.Namespace, str], int]


def add_commands(commands: Any) -> None:
    """Add ``models`` and ``shadow`` to the top-level subcommands; each gets the shared --db-url and --config."""
    models = commands.add_parser(
        "models", help="register model versions (shadow baselines)", description="The model registry."
    )
    model_commands = models.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    register = model_commands.add_parser(
        "register",
        help="register a model version with its ONNX artifact and hardware class",
        description="Register a model version as a shadow baseline: its ONNX file (checked to be a valid model; "
        "the server reads it from this path), and the hardware class it is priced by. Registering the same "
        "version and file again changes nothing; a different file needs --replace.",
    )
    register.add_argument("--name", required=True, help="model name, as in ml.model.name")
    register.add_argument("--version", required=True, help="model version, as in ml.model.version")
    register.add_argument("--onnx", required=True, type=Path, help="path to the ONNX artifact")
    register.add_argument("--hardware", default="cpu", help="hardware class for pricing (default cpu)")
    register.add_argument("--task", default="unspecified", choices=MODEL_TASKS, help="what the model does")
    register.add_argument("--labels", default="", help="class labels in score order, comma-separated")
    register.add_argument("--replace", action="store_true", help="point an existing version at a new artifact")
    register.set_defaults(feature_handler=cmd_models_register)
    listing = model_commands.add_parser(
        "list", help="list registered versions", description="List registered model versions."
    )
    listing.add_argument("--name", help="only this model")
    listing.set_defaults(feature_handler=cmd_models_list)

    shadow = commands.add_parser(
        "shadow",
        help="replay recorded traffic against cheaper variants and recommend",
        description="Shadow comparisons of a registered model version against compressed or other-hardware variants.",
    )
    shadow_commands = shadow.add_subparsers(dest="shadow_command", metavar="COMMAND", required=True)
    run = shadow_commands.add_parser(
        "run",
        help="build variants, replay recorded inputs, compare, recommend",
        description="Build the variants (int8 dynamic and static quantization, float16, or your ONNX files), "
        "replay a time-stratified sample of the version's recorded raw inputs through the baseline and each "
        "variant, and recommend a switch only when quality holds with statistical confidence and latency or "
        "cost improves. Stops early when the answer is already clear. The run and its numbers are stored.",
    )
    run.add_argument("--model", required=True, help="registered model name")
    run.add_argument("--version", help="registered version (default: the newest)")
    run.add_argument(
        "--variants",
        default="int8-dynamic,int8-static,fp16",
        help="comma-separated: int8-dynamic, int8-static, fp16, prune-25, prune-50 (structured pruning), "
        "distill-mlp, distill-gbt (students fitted on held-out traffic; needs inferwatch[distill]), or paths to "
        "ONNX files (default: int8-dynamic,int8-static,fp16)",
    )
    run.add_argument("--requests", type=int, default=1000, help="recorded inputs to replay (default 1000)")
    run.add_argument("--batch-size", type=int, default=32, help="batch size of the throughput test (default 32)")
    run.add_argument("--report", type=Path, help="also write an HTML report with charts to this file")
    # Unset flags (None) keep the [shadow] section's values, which keep the built-in defaults.
    run.add_argument(
        "--min-agreement",
        type=float,
        help="switch only if the agreement lower bound is at least this ([shadow] min_agreement_lower_bound, 0.99)",
    )
    run.add_argument(
        "--max-accuracy-loss",
        type=float,
        help="... or the accuracy-loss upper bound is at most this many points "
        "([shadow] max_accuracy_loss_points, 0.5)",
    )
    run.add_argument(
        "--min-improvement",
        type=float,
        help="minimum latency or cost improvement as a fraction ([shadow] min_improvement, 0.1)",
    )
    run.add_argument(
        "--no-early-stop", action="store_true", help="replay every request even when the answer is already clear"
    )
    run.add_argument(
        "--provider-hardware",
        action="append",
        default=[],
        metavar="PROVIDER=CLASS",
        help="price runs on an execution provider as this hardware class, e.g. CUDAExecutionProvider=nvidia-t4 "
        "(repeatable; adds to [shadow.provider_hardware]; default: the GPU nvidia-smi names)",
    )
    for parser in (register, listing, run):
        add_db_flags(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    run.set_defaults(feature_handler=cmd_shadow_run)


def _version_json(version: ModelVersion) -> dict[str, Any]:
    return {
        "model": version.model_name,
        "version": version.version,
        "artifact_uri": version.artifact_uri,
        "artifact_sha256": version.artifact_sha256,
        "hardware_class": version.hardware_class,
        "task": version.task,
        "class_labels": list(version.class_labels),
        "created_at": version.created_at.isoformat(),
    }


def cmd_models_register(args: argparse.Namespace, db_url: str) -> int:
    """Register a version."""
    engine = create_engine_for(db_url)
    try:
        version, changed = register_model_version(
            engine,
            model_name=args.name,
            version=args.version,
            artifact=args.onnx,
            hardware_class=args.hardware,
            task=args.task,
            class_labels=tuple(label.strip() for label in args.labels.split(",") if label.strip()),
            replace=args.replace,
        )
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({**_version_json(version), "created": changed}, indent=2))
    else:
        verb = "registered" if changed else "already registered"
        print(f"{verb}: {version.model_name} {version.version} ({version.hardware_class}) -> {version.artifact_uri}")
    return 0


def cmd_models_list(args: argparse.Namespace, db_url: str) -> int:
    """List versions."""
    engine = create_engine_for(db_url)
    try:
        versions = list_model_versions(engine, args.name)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({"model_versions": [_version_json(v) for v in versions]}, indent=2))
    else:
        for v in versions:
            print(f"{v.model_name}\t{v.version}\t{v.hardware_class}\t{v.task}\t{v.artifact_uri}")
        if not versions:
            print("no registered model versions")
    return 0


class ProgressBar:
    """A one-line progress bar on a terminal; silent when stderr is not one (CI logs, pipes)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, phase: str) -> None:
        if not self._enabled or (time.monotonic() - self._last < 0.1 and done < total):
            return
        self._last = time.monotonic()
        width = 30
        filled = int(width * done / total) if total else width
        self._stream.write(f"\r{phase:<12} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self._stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._enabled:
            self._stream.write("\n")


def _provider_hardware_flag(value: str) -> tuple[str, str]:
    """One ``--provider-hardware PROVIDER=CLASS`` flag, checked as ``[shadow.provider_hardware]`` is."""
    from shadow.settings import provider_hardware_entry

    provider, sep, hardware = value.partition("=")
    if sep:
        with contextlib.suppress(ValueError):
            return provider_hardware_entry(provider, hardware)
    raise ValueError(f"--provider-hardware {value!r}: expected PROVIDER=CLASS, e.g. CUDAExecutionProvider=nvidia-t4")


def cmd_shadow_run(args: argparse.Namespace, db_url: str, settings: ShadowSettings | None = None) -> int:
    """Run a shadow comparison from the store and record it; flags override ``settings`` ([shadow])."""
    from shadow.errors import ShadowError
    from shadow.replay import ReplayOptions
    from shadow.report import render_html
    from shadow.runner import ShadowOptions, run_shadow_from_store
    from shadow.settings import ShadowSettings
    from shadow.store import create_run, fail_run, finish_run, update_run
    from shadow.variants import parse_variant_specs

    if args.requests < 1:
        raise ValueError(f"--requests must be >= 1, got {args.requests}")
    settings = (settings or ShadowSettings()).with_margins(
        min_agreement_lower_bound=args.min_agreement,
        max_accuracy_loss_points=args.max_accuracy_loss,
        min_improvement=args.min_improvement,
    )
    options = ShadowOptions(
        variants=parse_variant_specs(args.variants),
        replay=replace(ReplayOptions(), batch_size=args.batch_size),
        margins=settings.margins,
        early_stop=settings.early_stop and not args.no_early_stop,
        looks=settings.looks,
        prices=settings.prices,
        provider_hardware={**settings.provider_hardware, **dict(map(_provider_hardware_flag, args.provider_hardware))},
        slice_by=settings.slice_by,
        executor=settings.executor,
        ray_address=settings.ray_address,
    )
    engine = create_engine_for(db_url)
    try:
        version = args.version or latest_version(engine, args.model)
        run_id = create_run(
            engine,
            args.model,
            version,
            {
                "variants": args.variants,
                "requests": args.requests,
                "batch_size": args.batch_size,
                "early_stop": options.early_stop,
            },
        )
        update_run(engine, run_id, state="running", started_at=datetime.now(tz=UTC))
        bar = ProgressBar()
        try:
            result = run_shadow_from_store(db_url, args.model, version, args.requests, options, progress=bar)
        except ShadowError as error:
            fail_run(engine, run_id, str(error))
            raise
        finally:
            bar.close()
        finish_run(engine, run_id, result)
    finally:
        engine.dispose()
    if args.report:
        args.report.write_text(render_html(result))
    if args.json:
        document = json.loads(result.to_json())
        print(json.dumps({"run_id": run_id, **document}, indent=2))
    else:
        rec = result.recommendation
        print(
            f"shadow run {run_id}: {args.model} {version}, {result.requests_replayed} of "
            f"{result.requests_available} recorded requests replayed"
        )
        print(rec.headline)
        for variant in result.results:
            m = variant.measurement
            print(f"  {variant.key:<28} p50 {m.p50_ms:8.3f} ms  p99 {m.p99_ms:8.3f} ms  {m.throughput_rps:10.0f}/s")
        # The explanation opens with the headline, printed above the table already.
        print("\n".join(rec.explanation.splitlines()[1:]))
        if args.report:
            print(f"report: {args.report}")
    return 0
