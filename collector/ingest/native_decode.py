"""Decode ``inferwatch.v1.PredictionService`` requests into records, item by item."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.core.domain import ItemRejection, OutcomeRecord, PredictionRecord
from collector.core.feature_schema import NumericFeatures
from collector.ingest.prediction_records import (
    MAX_FEATURE_NAME_CHARS,
    ClassScores,
    FeatureValue,
    InvalidItem,
    ItemWarning,
    OutputValue,
    build_outcome,
    build_prediction,
    check_feature,
    check_feature_count,
    encode_features,
    rejection,
    text_in_numeric,
)
from inferwatch.v1 import common_pb2, prediction_service_pb2

_ITEM_BYTES = {
    common_pb2.DATA_TYPE_FLOAT32: 4,
    common_pb2.DATA_TYPE_FLOAT16: 2,
    common_pb2.DATA_TYPE_FLOAT64: 8,
    common_pb2.DATA_TYPE_INT8: 1,
    common_pb2.DATA_TYPE_UINT8: 1,
    common_pb2.DATA_TYPE_INT32: 4,
    common_pb2.DATA_TYPE_INT64: 8,
    common_pb2.DATA_TYPE_BOOL: 1,
}


@dataclass
class DecodedPredictions:
    """Records to store, the items rejected, warnings on stored items, and the count of non-finite feature
    values replaced."""

    records: list[PredictionRecord] = field(default_factory=list)
    rejections: list[ItemRejection] = field(default_factory=list)
    warnings: list[ItemWarning] = field(default_factory=list)
    non_finite_values: int = 0


@dataclass
class DecodedOutcomes:
    """Outcome records to store, each one's index in the request, and the items rejected."""

    records: list[OutcomeRecord] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    rejections: list[ItemRejection] = field(default_factory=list)


def check_tensor(name: str, tensor: common_pb2.Tensor) -> None:
    """A raw input must be replayable: a known dtype and as many elements as its shape says."""
    where = f"raw_inputs.{name}"
    if tensor.dtype not in _ITEM_BYTES and tensor.dtype != common_pb2.DATA_TYPE_STRING:
        raise InvalidItem(where + ".dtype", "must be set to a known DataType")
    if any(dim < 0 for dim in tensor.shape):
        raise InvalidItem(where + ".shape", f"has a negative dimension: {list(tensor.shape)}")
    elements = math.prod(tensor.shape)
    if tensor.dtype == common_pb2.DATA_TYPE_STRING:
        if len(tensor.string_data) != elements:
            raise InvalidItem(
                where, f"shape {list(tensor.shape)} needs {elements} strings, got {len(tensor.string_data)}"
            )
        return
    expected = elements * _ITEM_BYTES[tensor.dtype]
    if len(tensor.data) != expected:
        raise InvalidItem(where, f"shape {list(tensor.shape)} needs {expected} bytes of data, got {len(tensor.data)}")


def _features(features: Mapping[str, common_pb2.FeatureValue]) -> tuple[str, int, dict[str, str]]:
    """Features as JSON text, the non-finite count, and the features sent as text (for the numeric-schema
    warnings), in one pass over the protobuf map (the hot loop)."""
    check_feature_count(len(features))
    clean: dict[str, FeatureValue] = {}
    categories: dict[str, str] = {}
    non_finite = 0
    for name, value in features.items():
        kind = value.WhichOneof("kind")
        if kind == "number":
            number = value.number
            # x - x is 0.0 for every finite float and NaN for NaN and both infinities.
            if number - number != 0.0:
                non_finite += 1
                clean[name] = None
            else:
                clean[name] = number
            if not name or len(name) > MAX_FEATURE_NAME_CHARS:
                check_feature(name, None)
        elif kind == "category":
            category = value.category
            check_feature(name, category)
            clean[name] = categories[name] = category
        else:
            check_feature(name, None)
            clean[name] = None
    return encode_features(clean), non_finite, categories


def output_value(output: common_pb2.Output) -> OutputValue:
    """The Python value of an ``Output`` message, or None when unset."""
    kind = output.WhichOneof("kind")
    if kind == "label":
        return output.label
    if kind == "value":
        return output.value
    if kind == "values":
        return list(output.values.values)
    if kind == "scores":
        scores = output.scores
        return ClassScores(list(scores.labels), list(scores.scores), scores.predicted_label)
    return None


def _raw_inputs(prediction: prediction_service_pb2.Prediction) -> bytes | None:
    if not prediction.raw_inputs:
        return None
    for name, tensor in prediction.raw_inputs.items():
        check_tensor(name, tensor)
    wrapper = common_pb2.RawInputs()
    for name, tensor in prediction.raw_inputs.items():
        wrapper.tensors[name].CopyFrom(tensor)
    return wrapper.SerializeToString(deterministic=True)


def decode_log_predictions(
    request: prediction_service_pb2.LogPredictionsRequest,
    received_unix_nano: int,
    numeric: NumericFeatures | None = None,
) -> DecodedPredictions:
    """Validate every prediction on its own; a bad one is reported by index and the rest are kept.

    ``numeric``: the features each model's drift reference holds as numbers; text sent for one is stored and
    warned about.
    """
    result = DecodedPredictions()
    for index, prediction in enumerate(request.predictions):
        try:
            features_json, non_finite, categories = _features(prediction.features)
            record = build_prediction(
                prediction_id=prediction.prediction_id,
                model_name=prediction.model.name,
                model_version=prediction.model.version,
                ts_unix_nano=prediction.time_unix_nano,
                received_unix_nano=received_unix_nano,
                features=(features_json, non_finite),
                output=output_value(prediction.output) if prediction.HasField("output") else None,
                raw_inputs=_raw_inputs(prediction),
                trace_id=prediction.trace_id,
                span_id=prediction.span_id,
                attributes=prediction.attributes,
                latency_ms=prediction.latency_ms or None,
            )
        except InvalidItem as error:
            result.rejections.append(rejection(index, error))
            continue
        result.records.append(record)
        result.non_finite_values += record.non_finite_count
        if numeric is not None:
            names = numeric.of(record.model_name, record.model_version)
            if names:
                texts = {name: text for name, text in categories.items() if name in names}
                result.warnings += text_in_numeric(index, record.model_name, texts)
    return result


def decode_log_outcomes(request: prediction_service_pb2.LogOutcomesRequest, received_unix_nano: int) -> DecodedOutcomes:
    """Validate every outcome on its own."""
    result = DecodedOutcomes()
    for index, outcome in enumerate(request.outcomes):
        try:
            record = build_outcome(
                prediction_id=outcome.prediction_id,
                model_name=outcome.model.name,
                ts_unix_nano=outcome.time_unix_nano,
                received_unix_nano=received_unix_nano,
                actual=output_value(outcome.actual) if outcome.HasField("actual") else None,
            )
        except InvalidItem as error:
            result.rejections.append(rejection(index, error))
            continue
        result.records.append(record)
        result.indexes.append(index)
    return result
