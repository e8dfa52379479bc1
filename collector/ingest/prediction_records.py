"""Validate and normalise one prediction or outcome, whichever wire format it came in.

Both the native ``inferwatch.v1.PredictionService`` and OTLP log events decode into plain Python values
first and then come through here, so the two paths store identical rows and reject the same mistakes.

Stored shapes (JSON columns):

- features: ``{"name": number | "category" | null}``; NaN and infinities become null and are counted;
- outputs and outcomes: ``{"label": "x"}``, ``{"value": 1.5}``, ``{"values": [..]}``, or, for class scores,
  ``{"labels": [..], "scores": [..], "label": "argmax or the given predicted label"}``; ``{}`` when absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from collector.core.domain import ItemRejection, OutcomeRecord, PredictionRecord
from collector.core.limits import (
    MAX_UNIX_NANO,
    MODEL_NAME_CHARS,
    MODEL_VERSION_CHARS,
    PREDICTION_ID_CHARS,
    clamp_text,
    json_without_nul,
)

MAX_FEATURE_NAME_CHARS = 256
MAX_CATEGORY_CHARS = 1024
MAX_FEATURES = 10_000

FeatureValue = float | str | None


@dataclass(frozen=True)
class ClassScores:
    """Per-class scores aligned with labels, and the label the model chose (empty: the arg-max)."""

    labels: Sequence[str]
    scores: Sequence[float]
    predicted_label: str = ""


OutputValue = str | float | Sequence[float] | ClassScores | None


class InvalidItem(ValueError):
    """One item is unusable; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _dumps(value: object) -> str:
    """Compact JSON text. Callers have already turned NaN and infinities into null or rejected them."""
    return json_without_nul(orjson.dumps(value).decode())


EMPTY_JSON_OBJECT = "{}"


def _check_text(field: str, value: str, limit: int, *, required: bool) -> str:
    """The value as stored: too long is an error; a NUL character (PostgreSQL text refuses it) becomes U+FFFD."""
    if required and not value:
        raise InvalidItem(field, "is required")
    if len(value) > limit:
        raise InvalidItem(field, f"is {len(value)} characters, more than {limit}")
    return clamp_text(value, limit)[0]


def _check_time(field: str, unix_nano: int, received_unix_nano: int) -> int:
    """The item's time, or when it was received if unset; past 2262 does not fit the column."""
    if unix_nano > MAX_UNIX_NANO:
        raise InvalidItem(field, f"is past 2262-04-11, the latest time stored ({unix_nano})")
    return unix_nano or received_unix_nano


def _finite(field: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise InvalidItem(field, f"must be finite, got {number}")
    return number


def check_feature(name: str, value: FeatureValue) -> None:
    """A feature name of 1 to MAX_FEATURE_NAME_CHARS characters and a category of at most MAX_CATEGORY_CHARS."""
    if not name or len(name) > MAX_FEATURE_NAME_CHARS:
        raise InvalidItem("features", f"feature name {name[:40]!r} must be 1 to {MAX_FEATURE_NAME_CHARS} characters")
    if value.__class__ is str and len(value) > MAX_CATEGORY_CHARS:
        raise InvalidItem(f"features.{name}", f"category is longer than {MAX_CATEGORY_CHARS} characters")


def check_feature_count(count: int) -> None:
    """At most MAX_FEATURES features per prediction."""
    if count > MAX_FEATURES:
        raise InvalidItem("features", f"has {count} entries, more than {MAX_FEATURES}")


def encode_features(features: Mapping[str, FeatureValue]) -> str:
    """Clean features (no NaN or infinity left) as JSON text."""
    return _dumps(features) if features else EMPTY_JSON_OBJECT


def normalise_features(features: Mapping[str, FeatureValue]) -> tuple[str, int]:
    """Features as JSON text and the count of non-finite numbers that were stored as missing."""
    check_feature_count(len(features))
    clean: dict[str, FeatureValue] = {}
    non_finite = 0
    for name, value in features.items():
        check_feature(name, value)
        # x - x is 0.0 for every finite float and NaN for NaN and both infinities.
        if value.__class__ is float and value - value != 0.0:
            non_finite += 1
            value = None  # noqa: PLW2901
        clean[name] = value
    return encode_features(clean), non_finite


@dataclass(frozen=True)
class ItemWarning:
    """Something odd about an item that was stored anyway (the native answer's ``warnings``)."""

    index: int
    field: str
    message: str

    def describe(self) -> str:
        """One line for a partial_success message or a log."""
        return f"item {self.index}: {self.field}: {self.message}"


def text_in_numeric(index: int, model: str, texts: Mapping[str, str]) -> list[ItemWarning]:
    """Warnings for features the model's drift reference holds as numbers that arrived as text; they are
    stored as sent, and drift counts them as missing (so a schema change shows as a missing-rate jump)."""
    return [
        ItemWarning(
            index,
            f"features.{name}",
            f"is numeric in the drift reference of {model!r}, got the text {text[:40]!r} (drift counts it as missing)",
        )
        for name, text in texts.items()
    ]


def normalise_output(field: str, output: OutputValue) -> str:
    """An output or outcome as JSON text in the stored shape."""
    if output is None:
        return EMPTY_JSON_OBJECT
    if isinstance(output, str):
        _check_text(field + ".label", output, MAX_CATEGORY_CHARS, required=True)
        return _dumps({"label": output})
    if isinstance(output, int | float):
        return _dumps({"value": _finite(field + ".value", output)})
    if isinstance(output, ClassScores):
        scores = [_finite(f"{field}.scores[{i}]", score) for i, score in enumerate(output.scores)]
        if not scores:
            raise InvalidItem(field + ".scores", "is empty")
        labels = list(output.labels) or [str(i) for i in range(len(scores))]
        if len(labels) != len(scores):
            raise InvalidItem(field + ".labels", f"has {len(labels)} labels for {len(scores)} scores")
        label = output.predicted_label or labels[max(range(len(scores)), key=scores.__getitem__)]
        return _dumps({"labels": labels, "scores": scores, "label": label})
    values = [_finite(f"{field}.values[{i}]", value) for i, value in enumerate(output)]
    if not values:
        raise InvalidItem(field + ".values", "is empty")
    return _dumps({"values": values})


def _check_ids(trace_id: bytes, span_id: bytes) -> tuple[bytes | None, bytes | None]:
    if trace_id and len(trace_id) != 16:
        raise InvalidItem("trace_id", f"must be 16 bytes, got {len(trace_id)}")
    if span_id and len(span_id) != 8:
        raise InvalidItem("span_id", f"must be 8 bytes, got {len(span_id)}")
    return trace_id or None, span_id or None


def build_prediction(
    *,
    prediction_id: str,
    model_name: str,
    model_version: str,
    ts_unix_nano: int,
    received_unix_nano: int,
    features: tuple[str, int],
    output: OutputValue,
    raw_inputs: bytes | None,
    trace_id: bytes,
    span_id: bytes,
    attributes: Mapping[str, str],
    latency_ms: float | None,
) -> PredictionRecord:
    """Validate one prediction and build its record; raises InvalidItem naming the bad field.

    ``features`` is the JSON text and non-finite count from ``normalise_features`` (or the native decoder's
    equivalent, which reads protobuf values in the same single pass).
    """
    prediction_id = _check_text("prediction_id", prediction_id, PREDICTION_ID_CHARS, required=True)
    model_name = _check_text("model.name", model_name, MODEL_NAME_CHARS, required=True)
    model_version = _check_text("model.version", model_version, MODEL_VERSION_CHARS, required=False)
    timestamp = _check_time("time_unix_nano", ts_unix_nano, received_unix_nano)
    features_json, non_finite = features
    outputs_json = normalise_output("output", output)
    trace, span = _check_ids(trace_id, span_id)
    if latency_ms is not None and (not math.isfinite(latency_ms) or latency_ms < 0):
        raise InvalidItem("latency_ms", f"must be a finite number >= 0, got {latency_ms}")
    return PredictionRecord(
        prediction_id,
        model_name,
        model_version,
        timestamp,
        received_unix_nano,
        features_json,
        outputs_json,
        raw_inputs,
        trace,
        span,
        _dumps(dict(attributes)) if attributes else EMPTY_JSON_OBJECT,
        latency_ms,
        non_finite,
    )


def build_outcome(
    *, prediction_id: str, model_name: str, ts_unix_nano: int, received_unix_nano: int, actual: OutputValue
) -> OutcomeRecord:
    """Validate one outcome; it must say what actually happened."""
    prediction_id = _check_text("prediction_id", prediction_id, PREDICTION_ID_CHARS, required=True)
    model_name = _check_text("model.name", model_name, MODEL_NAME_CHARS, required=False)
    timestamp = _check_time("time_unix_nano", ts_unix_nano, received_unix_nano)
    if actual is None:
        raise InvalidItem("actual", "is required: the true label, value or scores")
    return OutcomeRecord(
        prediction_id,
        model_name or None,
        timestamp,
        received_unix_nano,
        normalise_output("actual", actual),
    )


def rejection(index: int, error: InvalidItem) -> ItemRejection:
    """The rejection for an item that failed validation."""
    return ItemRejection(index, error.field, error.message)
