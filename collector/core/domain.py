"""Domain records of what the collector ingests, as they are stored.

Ingest records are typed NamedTuples rather than frozen dataclasses on purpose: they are immutable and typed
like one, but a tuple is built in C and goes to the DB-API's ``executemany`` as it is, with no copy. At 50k
spans a second that difference is a fifth of the budget. Field order is column order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple


class SpanRecord(NamedTuple):
    """One OTLP span, with the fields detectors read pulled out and the rest kept as the serialized span."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    name: str
    kind: int
    service_name: str
    model_name: str | None
    model_version: str | None
    operation: str | None
    provider: str | None
    hardware_class: str | None
    start_unix_nano: int
    end_unix_nano: int
    status_code: int
    error_type: str | None
    input_tokens: int | None
    output_tokens: int | None
    is_inference: bool
    raw: bytes | None


class PredictionRecord(NamedTuple):
    """One prediction: inputs as features, what the model said, optional raw tensors for replay.

    ``features``, ``outputs`` and ``attributes`` hold compact JSON text (the columns are JSON); NaN and
    infinite feature values have already become null and are counted in ``non_finite_count``.
    """

    prediction_id: str
    model_name: str
    model_version: str
    ts_unix_nano: int
    received_unix_nano: int
    features: str
    outputs: str
    raw_inputs: bytes | None
    trace_id: bytes | None
    span_id: bytes | None
    attributes: str
    latency_ms: float | None
    non_finite_count: int


class OutcomeRecord(NamedTuple):
    """Ground truth for one prediction, by prediction id; ``actual`` is JSON text like a prediction's outputs."""

    prediction_id: str
    model_name: str | None
    ts_unix_nano: int
    received_unix_nano: int
    actual: str


@dataclass(frozen=True)
class ItemRejection:
    """Why one item of a request was not stored."""

    index: int
    field: str
    message: str

    def describe(self) -> str:
        """One line for a partial_success message or a log."""
        return (
            f"item {self.index}: {self.field}: {self.message}" if self.field else f"item {self.index}: {self.message}"
        )


@dataclass(frozen=True)
class Finding:
    """One detector's verdict on one window of one model version; alerts are built from these.

    ``firing`` says whether the detector judged the window anomalous; findings that do not fire are kept too,
    as the evidence an alert resolves on. ``(detector, model, version, subject, window)`` identifies it, so
    evaluating a window again replaces its finding rather than adding one.
    """

    detector: str
    model_name: str
    model_version: str
    subject: str
    severity: str
    firing: bool
    window_start: datetime
    window_end: datetime
    summary: str
    value: float | None = None
    expected: float | None = None
    band_low: float | None = None
    band_high: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    since: datetime | None = None
    id: int | None = None
    created_at: datetime | None = None
    # Set by the store: moves on whenever the verdict changes (collector.core.findings.store_findings).
    revision: int | None = None
