"""The typed result of a shadow run and its JSON form (what the CLI prints and the service stores)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shadow.compare import Comparison, Task
from shadow.recommend import Margins, Recommendation, Verdict
from shadow.variants import Variant, VariantFailure


@dataclass(frozen=True)
class CurvePoint:
    """One point of a model's batch curve, priced by its hardware class when that class has a price."""

    batch: int
    calls: int
    p50_ms: float
    p99_ms: float
    rows_per_s: float
    cost_per_1k_usd: float | None = None  # USD per 1,000 predictions at this batch size; None without a price


@dataclass(frozen=True)
class MeasurementSummary:
    """What one model measured, without its raw outputs."""

    execution_provider: str
    hardware_class: str
    requests: int
    p50_ms: float
    p99_ms: float
    latency_quantiles_ms: tuple[float, ...]  # 0th, 5th, ..., 100th percentile at batch 1
    throughput_rps: float
    throughput_batch: int
    peak_memory_bytes: int | None
    memory_method: str
    size_bytes: int
    notes: tuple[str, ...] = ()
    error: str | None = None
    throughput_rounds_rps: tuple[float, ...] = ()
    batch_curve: tuple[CurvePoint, ...] = ()
    # The node that measured it, on a Ray cluster: node id, host, CPU model and flags, GPUs, ORT version.
    node: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantResult:
    """One model of the run (the baseline too) on one execution provider."""

    key: str
    variant: Variant
    measurement: MeasurementSummary
    comparison: Comparison | None = None
    verdict: Verdict | None = None


@dataclass(frozen=True)
class ShadowResult:
    """Everything a shadow run found, and what it recommends."""

    baseline_path: Path
    task: Task
    requests_available: int
    requests_replayed: int
    calibration_requests: int
    looks_planned: int
    looks_taken: int
    stopped_early: bool
    confidence_per_bound: float
    margins: Margins
    results: tuple[VariantResult, ...]
    failures: tuple[VariantFailure, ...]
    recommendation: Recommendation
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def baseline(self) -> VariantResult:
        """The baseline's measurements."""
        return self.results[0]

    @property
    def variants(self) -> tuple[VariantResult, ...]:
        """Every variant that was replayed."""
        return self.results[1:]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: paths as text, NaN and infinity as null."""
        data = _jsonable(dataclasses.asdict(self))
        assert isinstance(data, dict)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """One JSON document, as ``inferwatch shadow run --json`` prints it."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _jsonable(value: Any) -> Any:
    """Recursively turn dataclass dictionaries into strict JSON values."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value
