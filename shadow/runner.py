"""``run_shadow``: build variants, replay recorded inputs in sequential looks, compare, recommend.

The functions the CLI and the gRPC servicer call: ``run_shadow`` on an artifact and inputs in memory, and
``run_shadow_from_store`` on a registered model version and its recorded traffic.
"""

from __future__ import annotations

import functools
import math
import platform
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from sqlalchemy import select

from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import ModelRow, ModelVersionRow
from shadow.cluster_worker import node_hardware, pricing_mismatch
from shadow.compare import Comparison, SliceOptions, Task, compare_outputs, infer_task
from shadow.errors import ArtifactNotFoundError, NoRecordedInputsError
from shadow.hardware import hardware_class_for
from shadow.recommend import Margins, Recommendation, Verdict, adjusted_confidence, judge_variant, recommend
from shadow.recorded import RecordedInput, replay_order, sample_recorded_inputs
from shadow.replay import Measurement, ModelToRun, PartsSnapshot, Progress, Replay, Replayer, ReplayOptions
from shadow.result import CurvePoint, MeasurementSummary, ShadowResult, VariantResult
from shadow.settings import EXECUTORS, Executor
from shadow.tensors import Feed
from shadow.variants import (
    BUILTIN_KINDS,
    CPU_PROVIDER,
    DISTILL_KINDS,
    TRAFFIC_KINDS,
    Variant,
    VariantFailure,
    VariantSpec,
    baseline_variant,
    build_variants,
    choose_providers,
)

_THROUGHPUT_ROWS = 512


@dataclass(frozen=True)
class ShadowOptions:
    """What a shadow run does; every default is the one issue 7 names."""

    variants: tuple[VariantSpec, ...] = tuple(VariantSpec(kind=kind) for kind in BUILTIN_KINDS)
    replay: ReplayOptions = field(default_factory=ReplayOptions)
    margins: Margins = field(default_factory=Margins)
    early_stop: bool = True
    looks: int = 4
    task: Task | None = None
    hardware_class: str = "cpu"
    prices: Mapping[str, float] = field(default_factory=dict)
    # Execution provider -> hardware class, for runs off the baseline's CPU ([shadow.provider_hardware]).
    provider_hardware: Mapping[str, str] = field(default_factory=dict)
    calibration_size: int = 128
    # Recorded inputs held out to fit distilled students on (at most half of what is available).
    training_size: int = 2000
    seed: int = 0
    # Quality per predicted class and per quantile bin of each numeric feature; None judges the whole only.
    slices: SliceOptions | None = field(default_factory=SliceOptions)
    # Prediction features or attributes ([shadow] slice_by) whose values are slices too.
    slice_by: tuple[str, ...] = ()
    # Where the replay runs ([shadow] executor): here, or one actor per model on a Ray cluster (shadow.cluster).
    executor: Executor = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.looks <= 0:
            raise ValueError(f"`looks` must be > 0, got {self.looks}")
        if self.calibration_size <= 0:
            raise ValueError(f"`calibration_size` must be > 0, got {self.calibration_size}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"`executor` must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.training_size <= 0:
            raise ValueError(f"`training_size` must be > 0, got {self.training_size}")
        for name, price in self.prices.items():
            if not (math.isfinite(price) and price >= 0):
                raise ValueError(f"`prices[{name!r}]` must be a finite number >= 0 $/hour, got {price}")


def recorded_from_feeds(
    feeds: Sequence[Feed], labels: Sequence[str | float | None] | None = None
) -> list[RecordedInput]:
    """Wrap in-memory feeds (and optional outcomes) as recorded inputs, for tests and offline files."""
    from shadow.recorded import Outcome

    def outcome(value: str | float | None) -> Outcome | None:
        if value is None:
            return None
        return Outcome(label=value) if isinstance(value, str) else Outcome(value=float(value))

    truth = list(labels) if labels is not None else [None] * len(feeds)
    return [RecordedInput(f"r{i}", i, feed, outcome(truth[i])) for i, feed in enumerate(feeds)]


def _feature_rows(feeds: Sequence[Feed]) -> np.ndarray | None:
    """One row of numbers per request, from the first input that is numeric with one row of features per request
    (shape (1, F) or (F,)); None when there is none (sequences, images: no feature to slice by)."""
    if not feeds:
        return None
    for name, first in feeds[0].items():
        if first.dtype.kind not in "fiub" or first.ndim not in (1, 2) or (first.ndim == 2 and first.shape[0] != 1):
            continue
        width = first.shape[-1]
        if all(feed[name].shape == first.shape for feed in feeds):
            return np.concatenate([feed[name].reshape(1, width) for feed in feeds]).astype(np.float64)
    return None


def _split_calibration(
    inputs: Sequence[RecordedInput], options: ShadowOptions
) -> tuple[list[RecordedInput], list[Feed]]:
    """Hold a seeded subset out for calibration, pruning and distillation (never replayed: it cannot flatter them)."""
    if not any(spec.kind in TRAFFIC_KINDS for spec in options.variants) or len(inputs) < 10:
        return list(inputs), [item.inputs for item in inputs[: options.calibration_size]]
    size = min(options.calibration_size, len(inputs) // 5)
    if any(spec.kind in DISTILL_KINDS for spec in options.variants):
        # A student needs more rows than a calibration does; half the traffic at most stays for the judgement.
        size = max(size, min(options.training_size, len(inputs) // 2))
    held = set(np.random.default_rng(options.seed).choice(len(inputs), size=size, replace=False).tolist())
    replayed = [item for i, item in enumerate(inputs) if i not in held]
    return replayed, [inputs[i].inputs for i in sorted(held)]


def cost_per_1k(rows_per_s: float, price_per_hour: float | None) -> float | None:
    """USD per 1,000 predictions for a machine at ``price_per_hour`` that serves ``rows_per_s`` while busy."""
    if price_per_hour is None or not rows_per_s > 0:
        return None
    return 1000 * price_per_hour / 3600 / rows_per_s


def _summary(variant: Variant, m: Measurement, hardware_class: str, price: float | None) -> MeasurementSummary:
    """A measurement without its raw outputs, for results and reports; ``price`` in $/hour of its class."""
    # Every 5th percentile for the report's chart, and p99, in one pass over the latencies.
    quantiles = np.percentile(m.latencies_ms, [*range(0, 101, 5), 99]).tolist() if m.latencies_ms else []
    return MeasurementSummary(
        execution_provider=m.execution_provider,
        hardware_class=hardware_class,
        requests=len(m.latencies_ms),
        p50_ms=quantiles[10] if quantiles else math.nan,
        p99_ms=quantiles[-1] if quantiles else math.nan,
        latency_quantiles_ms=tuple(quantiles[:-1]),
        throughput_rps=m.throughput_rps,
        throughput_batch=m.throughput_batch,
        peak_memory_bytes=m.peak_memory_bytes,
        memory_method=m.memory_method,
        size_bytes=variant.size_bytes,
        notes=m.notes,
        error=m.error,
        throughput_rounds_rps=m.throughput_rounds_rps,
        batch_curve=tuple(
            CurvePoint(p.batch, p.calls, p.p50_ms, p.p99_ms, p.rows_per_s, cost_per_1k(p.rows_per_s, price))
            for p in m.batch_curve
        ),
        node=dict(m.node),
    )


@functools.cache
def _environment() -> dict[str, str]:
    """What a verdict is valid for: ORT version, providers, CPU and its int8-relevant flags."""
    import onnxruntime

    flags = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        present = set(next(line for line in cpuinfo.splitlines() if line.startswith("flags")).split())
        flags = " ".join(
            flag for flag in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni") if flag in present
        )
    except (OSError, StopIteration):
        pass
    return {
        "onnxruntime": onnxruntime.__version__,
        "providers": ",".join(onnxruntime.get_available_providers()),
        "machine": platform.machine(),
        "cpu_flags": flags,
    }


def run_shadow(
    baseline_path: Path,
    inputs: Sequence[RecordedInput],
    options: ShadowOptions | None = None,
    *,
    progress: Progress | None = None,
    workdir: Path | None = None,
    available: int | None = None,
    watch_parts: Callable[[PartsSnapshot], None] | None = None,
) -> ShadowResult:
    """Compare the baseline with its variants on ``inputs`` and recommend; see shadow.recommend for the rule.

    ``available`` is how many recorded inputs ``inputs`` were sampled from (default: all of them were given).
    ``watch_parts`` is handed, once the replay begins, a function that tells each part's progress and node
    (the caller reads it when it reports, so the replay loop pays nothing for it).
    """
    options = options or ShadowOptions()
    if not inputs:
        raise NoRecordedInputsError("no recorded inputs to replay: the input list is empty")
    baseline = baseline_variant(Path(baseline_path), options.hardware_class)
    replayed, calibration = _split_calibration(inputs, options)
    with tempfile.TemporaryDirectory(prefix="inferwatch-shadow-") as scratch:
        built = build_variants(baseline.path, options.variants, workdir or Path(scratch), calibration)
        if progress is not None:
            progress(len(built), len(built), "build")
        return _replay_and_judge(
            baseline,
            built,
            replayed,
            calibration_count=len(calibration),
            available=len(inputs) if available is None else available,
            options=options,
            progress=progress,
            watch_parts=watch_parts,
        )


def _replay_and_judge(
    baseline: Variant,
    built: Sequence[Variant | VariantFailure],
    replayed: Sequence[RecordedInput],
    *,
    calibration_count: int,
    available: int,
    options: ShadowOptions,
    progress: Progress | None,
    watch_parts: Callable[[PartsSnapshot], None] | None = None,
) -> ShadowResult:
    """Throughput, then the replay loop with sequential looks, comparisons and the recommendation."""
    failures = [item for item in built if isinstance(item, VariantFailure)]
    variants = (item for item in built if isinstance(item, Variant))
    runs = {
        "baseline": baseline,
        **provider_runs(variants, options.hardware_class, options.provider_hardware, remote=options.executor == "ray"),
    }
    models = [ModelToRun(key, v.path, v.execution_provider or CPU_PROVIDER) for key, v in runs.items()]
    # Shuffled (seeded), so that an early stop at the first look has seen the whole time range, not its start.
    replayed = replay_order(replayed, options.seed)
    feeds = [item.inputs for item in replayed]
    truth = [
        item.outcome.label
        if item.outcome and item.outcome.label is not None
        else (item.outcome.value if item.outcome else None)
        for item in replayed
    ]
    features = _feature_rows(feeds)
    # A request without the value is its own slice, so that no request drops out of the correction's count.
    categories = {
        name: np.array([item.tags.get(name, "(missing)") for item in replayed], dtype=object)
        for name in options.slice_by
    }
    looks = options.looks if options.early_stop else 1
    confidence = adjusted_confidence(options.margins.confidence, looks, max(1, len(runs) - 1))
    bounds = [math.ceil(len(feeds) * (k + 1) / looks) for k in range(looks)]
    verdicts: dict[str, Verdict] = {}
    comparisons: dict[str, Comparison] = {}
    looks_taken, done = 0, 0
    replayer: Replayer
    if options.executor == "ray":
        from shadow.cluster import RayReplay

        classes = [runs[model.key].hardware_class for model in models]
        replayer = RayReplay(models, classes, options.replay, feeds, address=options.ray_address)
    else:
        replayer = Replay(models, options.replay, feeds)
    if watch_parts is not None:
        watch_parts(
            lambda: [
                replace(part, hardware_class=runs[part.key].hardware_class or "", total=len(feeds))
                for part in replayer.parts()
            ]
        )
    with replayer as replay:
        # Throughput first, so the cost gain is known at every look: a cheaper variant is not settled as
        # "no gain" on latency alone before its cost was measured.
        replay.run_throughput(feeds[:_THROUGHPUT_ROWS], progress)
        replay.run_batch_curve(feeds[: max(_THROUGHPUT_ROWS, options.replay.curve_max_batch)], progress)
        for bound in bounds:
            replay.run_requests(feeds[done:bound], progress, done, len(feeds))
            done, looks_taken = bound, looks_taken + 1
            measured = replay.measurements()
            if options.executor == "local":
                # Measured on this machine: its hardware goes with the result, as a Ray worker's does, and a GPU
                # class is checked against it the same way.
                here = node_hardware()
                measured = {key: replace(m, node=dict(m.node) or dict(here)) for key, m in measured.items()}
            task = options.task or infer_task(measured["baseline"].outputs)
            final = bound == len(feeds)
            comparisons, verdicts = _judge(
                runs,
                measured,
                task,
                truth[:done],
                features=None if features is None else features[:done],
                categories={name: values[:done] for name, values in categories.items()},
                options=options,
                confidence=confidence,
                final=final,
            )
            # Settled verdicts read the same at a look as at the end, so the last look's judgement is final.
            if final or all(verdict.settled for verdict in verdicts.values()):
                break
    recommendation: Recommendation = recommend(
        verdicts,
        {f.name: f.error for f in failures if not f.skipped} | {k: m.error for k, m in measured.items() if m.error},
        skipped={f.name: f.error for f in failures if f.skipped},
    )
    results = tuple(
        VariantResult(
            key,
            runs[key],
            _summary(
                runs[key],
                measured[key],
                runs[key].hardware_class or "unknown",
                options.prices.get(runs[key].hardware_class or ""),
            ),
            comparisons.get(key),
            verdicts.get(key),
        )
        for key in runs
    )
    return ShadowResult(
        baseline_path=baseline.path,
        task=task,
        requests_available=available,
        requests_replayed=done,
        calibration_requests=calibration_count,
        looks_planned=looks,
        looks_taken=looks_taken,
        stopped_early=done < len(feeds),
        confidence_per_bound=confidence,
        margins=options.margins,
        results=results,
        failures=tuple(failures),
        recommendation=recommendation,
        environment=dict(_environment()),
    )


def provider_runs(
    variants: Iterable[Variant],
    baseline_class: str = "cpu",
    provider_hardware: Mapping[str, str] | None = None,
    *,
    remote: bool = False,
) -> dict[str, Variant]:
    """Each variant on each provider it runs on: keyed by its name on CPU, ``name@provider`` elsewhere.

    Each run carries the hardware class it is priced by (``shadow.hardware``); None where that is unknown.
    ``remote`` runs go to other machines, whose providers are not this one's: a variant runs on the provider it
    names (its worker says if that provider cannot start there), else on the CPU.
    """
    runs: dict[str, Variant] = {}
    for variant in variants:
        if remote:
            providers: tuple[str, ...] = (variant.execution_provider or CPU_PROVIDER,)
        else:
            providers = choose_providers(variant.execution_provider)
        for provider in providers:
            key = variant.name if provider == CPU_PROVIDER else f"{variant.name}@{provider}"
            hardware = hardware_class_for(
                provider,
                requested=variant.hardware_class,
                baseline_class=baseline_class,
                provider_hardware=provider_hardware or {},
            )
            runs[key] = replace(variant, execution_provider=provider, hardware_class=hardware)
    return runs


def _unpriced(key: str, variant: Variant, options: ShadowOptions) -> str | None:
    """Why a run on other hardware than the baseline's cannot be priced; None when it can, or needs no price."""
    hardware = variant.hardware_class
    if hardware == options.hardware_class:
        return None  # the same hardware: latency alone shows a gain, and cost follows it
    if hardware is None:
        return (
            f"{key} runs on {variant.execution_provider}, whose hardware class is unknown: name it in "
            f'[shadow.provider_hardware] ({variant.execution_provider} = "<class>") or in the request, '
            f"and give the class a price in [pricing.hardware]"
        )
    missing = [name for name in (options.hardware_class, hardware) if name not in options.prices]
    if missing:
        names = " and ".join(map(repr, missing))
        return f"{key} runs on hardware class {hardware!r}; {names} has no price in [pricing.hardware]"
    return None


def _same_hardware(variant: Variant, baseline: Variant, options: ShadowOptions) -> bool:
    """Whether ``variant`` runs where the baseline does: the same provider and the same hardware class."""
    return (variant.execution_provider or CPU_PROVIDER) == (baseline.execution_provider or CPU_PROVIDER) and (
        variant.hardware_class in (None, options.hardware_class)
    )


def _judge(
    runs: Mapping[str, Variant],
    measured: Mapping[str, Measurement],
    task: Task,
    truth: Sequence[str | float | None],
    *,
    features: np.ndarray | None,
    categories: Mapping[str, np.ndarray],
    options: ShadowOptions,
    confidence: float,
    final: bool,
) -> tuple[dict[str, Comparison], dict[str, Verdict]]:
    """Comparisons and verdicts of every variant that is still running, at one look."""
    base = measured["baseline"]
    comparisons: dict[str, Comparison] = {}
    verdicts: dict[str, Verdict] = {}
    for key, variant in runs.items():
        m = measured[key]
        if key == "baseline" or m.error is not None or not m.outputs:
            continue
        comparison = compare_outputs(
            task,
            base.outputs,
            m.outputs,
            truth,
            confidence=confidence,
            seed=options.seed,
            features=features,
            categories=categories,
            slice_options=options.slices,
        )
        prices = None
        base_price = options.prices.get(options.hardware_class)
        var_price = options.prices.get(variant.hardware_class or "")
        # A free (0 $/hour) class has no cost ratio to speak of, so it is compared on latency alone.
        if base_price and var_price:
            prices = (base_price, var_price)
        comparisons[key] = comparison
        verdicts[key] = judge_variant(
            key,
            comparison,
            base,
            m,
            options.margins,
            confidence=confidence,
            prices=prices,
            final=final,
            unpriced=_unpriced(key, variant, options)
            or pricing_mismatch(variant.hardware_class, m.execution_provider, m.node),
            # The same graph on other hardware is a real variant: the hardware is what changes.
            unchanged=variant.unchanged if _same_hardware(variant, runs["baseline"], options) else None,
            caveats=variant.caveats,
        )
    return comparisons, verdicts


def resolve_artifact(uri: str) -> Path:
    """A model version's ``artifact_uri`` (a path or a file:// URI) as a local path."""
    parsed = urlparse(uri)
    if parsed.scheme in {"", "file"}:
        return Path(parsed.path if parsed.scheme == "file" else uri)
    raise ArtifactNotFoundError(f"artifact URI {uri!r} is not a local file (only paths and file:// are supported)")


def run_shadow_from_store(
    db_url: str,
    model_name: str,
    model_version: str,
    requests: int,
    options: ShadowOptions | None = None,
    *,
    progress: Progress | None = None,
    start_unix_nano: int | None = None,
    end_unix_nano: int | None = None,
    watch_parts: Callable[[PartsSnapshot], None] | None = None,
) -> ShadowResult:
    """Run a shadow comparison of a registered version on a time-stratified sample of its recorded inputs.

    ``start_unix_nano`` and ``end_unix_nano`` (end exclusive) restrict the sample to a time range.
    """
    engine = create_engine_for(db_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(ModelVersionRow.artifact_uri, ModelVersionRow.hardware_class, ModelVersionRow.task)
                .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
                .where(ModelRow.name == model_name, ModelVersionRow.version == model_version)
            ).first()
        if row is None:
            raise ArtifactNotFoundError(f"model {model_name!r} version {model_version!r} is not registered")
        sample = sample_recorded_inputs(
            engine,
            model_name,
            model_version,
            requests,
            seed=(options or ShadowOptions()).seed,
            start_unix_nano=start_unix_nano,
            end_unix_nano=end_unix_nano,
        )
    finally:
        engine.dispose()
    options = replace(options or ShadowOptions(), hardware_class=row.hardware_class)
    if options.task is None and row.task in ("classification", "regression"):
        # What `models register --task` said wins over guessing from the outputs' shapes.
        options = replace(options, task=row.task)
    return run_shadow(
        resolve_artifact(row.artifact_uri),
        sample.inputs,
        options,
        progress=progress,
        available=sample.available,
        watch_parts=watch_parts,
    )
