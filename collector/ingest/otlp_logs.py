"""Decode OTLP log records that carry predictions (event ``ml.prediction``) and outcomes (``ml.outcome``).

The event name is the record's ``event_name`` field, or its ``event.name`` attribute for older SDKs. The body
is a map (documented in the README, "Predictions as OpenTelemetry log events"):

    ml.prediction: {prediction_id, model?, version?, features: {name: number|string|null},
                    output?: {label}|{value}|{values: [..]}|{scores: {label: score}}, latency_ms?,
                    attributes?: {k: v}, raw_inputs?: {input name: bytes of inferwatch.v1.Tensor}}
    ml.outcome:    {prediction_id, model?, actual: {label}|{value}|{values}|{scores}}

``model`` and ``version`` fall back to the ``ml.model.name`` and ``ml.model.version`` attributes of the
record, then of its resource. The record's trace and span ids link the prediction to its span. Other log
records are counted and not stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from collector.core.domain import ItemRejection, OutcomeRecord, PredictionRecord
from collector.core.feature_schema import NumericFeatures
from collector.ingest.native_decode import check_tensor
from collector.ingest.prediction_records import (
    ClassScores,
    FeatureValue,
    InvalidItem,
    ItemWarning,
    OutputValue,
    build_outcome,
    build_prediction,
    normalise_features,
    rejection,
    text_in_numeric,
)
from inferwatch.v1 import common_pb2

PREDICTION_EVENT = "ml.prediction"
OUTCOME_EVENT = "ml.outcome"
_MODEL_KEYS = frozenset(("ml.model.name", "ml.model.version"))

Python = None | bool | int | float | str | bytes | list["Python"] | dict[str, "Python"]


@dataclass
class DecodedLogs:
    """Predictions and outcomes found in one request, what was rejected, and how many records were other logs."""

    predictions: list[PredictionRecord] = field(default_factory=list)
    outcomes: list[OutcomeRecord] = field(default_factory=list)
    # Each outcome's index among the request's log records, for warnings about it.
    outcome_indexes: list[int] = field(default_factory=list)
    rejections: list[ItemRejection] = field(default_factory=list)
    # Stored items with something odd about them (text in a numeric feature).
    warnings: list[ItemWarning] = field(default_factory=list)
    non_finite_values: int = 0
    other_logs: int = 0
    total: int = 0


def to_python(value: AnyValue) -> Python:
    """An AnyValue as plain Python; bodies of prediction events are small, so a full decode is fine here."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [to_python(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: to_python(kv.value) for kv in value.kvlist_value.values}
    result: Python = getattr(value, kind)
    return result


def _model_attributes(attributes: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in attributes if kv.key in _MODEL_KEYS}


def _event_name(record: LogRecord) -> str:
    if record.event_name:
        return record.event_name
    for kv in record.attributes:
        if kv.key == "event.name":
            return kv.value.string_value
    return ""


def _text(body: Mapping[str, Python], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidItem(f"body.{key}", f"must be a string, got {type(value).__name__}")


def _features(body: Mapping[str, Python]) -> dict[str, FeatureValue]:
    raw = body.get("features", {})
    if not isinstance(raw, dict):
        raise InvalidItem("body.features", "must be a map of feature name to value")
    features: dict[str, FeatureValue] = {}
    for name, value in raw.items():
        if value is None or isinstance(value, str):
            features[name] = value
        elif isinstance(value, bool):
            features[name] = "true" if value else "false"
        elif isinstance(value, int | float):
            features[name] = float(value)
        else:
            raise InvalidItem(
                f"body.features.{name}", f"must be a number, a string or empty, got {type(value).__name__}"
            )
    return features


def _output(where: str, raw: Python) -> OutputValue:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) != 1:
        raise InvalidItem(where, "must be a map with exactly one of label, value, values, scores")
    ((kind, value),) = raw.items()
    if kind == "label" and isinstance(value, str):
        return value
    if kind == "value" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "values" and isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return [float(v) for v in value]  # type: ignore[arg-type]
    if kind == "scores" and isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
        return ClassScores(list(value), [float(v) for v in value.values()])  # type: ignore[arg-type]
    raise InvalidItem(f"{where}.{kind}", "has the wrong type or is not one of label, value, values, scores")


def _raw_inputs(body: Mapping[str, Python]) -> bytes | None:
    raw = body.get("raw_inputs")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidItem("body.raw_inputs", "must be a map of input name to serialized inferwatch.v1.Tensor bytes")
    wrapper = common_pb2.RawInputs()
    for name, encoded in raw.items():
        if not isinstance(encoded, bytes):
            raise InvalidItem(f"body.raw_inputs.{name}", "must be bytes of a serialized inferwatch.v1.Tensor")
        try:
            tensor = common_pb2.Tensor.FromString(encoded)
        except DecodeError:
            raise InvalidItem(f"body.raw_inputs.{name}", "is not a serialized inferwatch.v1.Tensor") from None
        check_tensor(name, tensor)
        wrapper.tensors[name].CopyFrom(tensor)
    return wrapper.SerializeToString(deterministic=True)


def _texts(body: Mapping[str, Python], numeric: frozenset[str]) -> dict[str, str]:
    """The features among ``numeric`` that arrived as text (the body was checked to be a map of features)."""
    features = body.get("features")
    if not isinstance(features, dict):
        return {}
    return {name: value for name in numeric if isinstance(value := features.get(name), str)}


def _latency(body: Mapping[str, Python]) -> float | None:
    value = body.get("latency_ms")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidItem("body.latency_ms", "must be a number")
    return float(value)


def _attributes(body: Mapping[str, Python]) -> dict[str, str]:
    raw = body.get("attributes", {})
    if not isinstance(raw, dict):
        raise InvalidItem("body.attributes", "must be a map")
    return {str(key): str(value) for key, value in raw.items()}


def _prediction(
    record: LogRecord, body: Mapping[str, Python], model: Mapping[str, str], received: int
) -> PredictionRecord:
    return build_prediction(
        prediction_id=_text(body, "prediction_id"),
        model_name=_text(body, "model") or model.get("ml.model.name", ""),
        model_version=_text(body, "version") or model.get("ml.model.version", ""),
        ts_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
        received_unix_nano=received,
        features=normalise_features(_features(body)),
        output=_output("body.output", body.get("output")),
        raw_inputs=_raw_inputs(body),
        trace_id=record.trace_id,
        span_id=record.span_id,
        attributes=_attributes(body),
        latency_ms=_latency(body),
    )


def _outcome(record: LogRecord, body: Mapping[str, Python], model: Mapping[str, str], received: int) -> OutcomeRecord:
    return build_outcome(
        prediction_id=_text(body, "prediction_id"),
        model_name=_text(body, "model") or model.get("ml.model.name", ""),
        ts_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
        received_unix_nano=received,
        actual=_output("body.actual", body.get("actual")),
    )


def decode_export_logs_request(
    request: ExportLogsServiceRequest, received_unix_nano: int, numeric: NumericFeatures | None = None
) -> DecodedLogs:
    """Pick prediction and outcome events out of a logs export; each bad event is rejected alone.

    ``numeric``: the features each model's drift reference holds as numbers; text sent for one is warned about.
    """
    result = DecodedLogs()
    index = -1
    for resource_logs in request.resource_logs:
        resource_model = _model_attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                index += 1
                event = _event_name(record)
                if event not in (PREDICTION_EVENT, OUTCOME_EVENT):
                    result.other_logs += 1
                    continue
                body = to_python(record.body)
                try:
                    if not isinstance(body, dict):
                        raise InvalidItem("body", f"an {event} event needs a map body")
                    model = {**resource_model, **_model_attributes(record.attributes)}
                    if event == PREDICTION_EVENT:
                        prediction = _prediction(record, body, model, received_unix_nano)
                        result.predictions.append(prediction)
                        result.non_finite_values += prediction.non_finite_count
                        names = numeric.of(prediction.model_name, prediction.model_version) if numeric else None
                        if names:
                            texts = _texts(body, names)
                            result.warnings += text_in_numeric(index, prediction.model_name, texts)
                    else:
                        result.outcomes.append(_outcome(record, body, model, received_unix_nano))
                        result.outcome_indexes.append(index)
                except InvalidItem as error:
                    result.rejections.append(rejection(index, error))
    result.total = index + 1
    return result
