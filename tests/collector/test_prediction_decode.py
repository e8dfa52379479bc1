"""Decoding predictions and outcomes from the native API and from OTLP log events, item by item."""

from __future__ import annotations

import json
import math

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from collector.ingest.native_decode import decode_log_outcomes, decode_log_predictions
from collector.ingest.otlp_logs import decode_export_logs_request
from inferwatch.v1 import common_pb2, prediction_service_pb2

RECEIVED = 1_700_000_000_000_000_000


def any_value(value: object) -> AnyValue:
    """A Python value as an OTLP AnyValue."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key=k, value=any_value(v)) for k, v in value.items()])
        )
    return AnyValue(string_value=str(value))


def logs_request(*records: LogRecord, resource: dict[str, str] | None = None) -> ExportLogsServiceRequest:
    """One resource and scope holding the records."""
    resource_logs = ResourceLogs(scope_logs=[ScopeLogs(log_records=list(records))])
    for key, value in (resource or {}).items():
        resource_logs.resource.attributes.append(KeyValue(key=key, value=any_value(value)))
    return ExportLogsServiceRequest(resource_logs=[resource_logs])


def event(name: str, body: object, *, attribute_name: bool = False, **fields: object) -> LogRecord:
    """A log event, named by the event_name field or, as older SDKs do, by the event.name attribute."""
    record = LogRecord(body=any_value(body), time_unix_nano=123, **fields)  # type: ignore[arg-type]
    if attribute_name:
        record.attributes.append(KeyValue(key="event.name", value=any_value(name)))
    else:
        record.event_name = name
    return record


def native_prediction(prediction_id: str, **features: common_pb2.FeatureValue) -> prediction_service_pb2.Prediction:
    """A minimal valid native prediction."""
    return prediction_service_pb2.Prediction(
        prediction_id=prediction_id, model=common_pb2.ModelRef(name="fraud", version="2"), features=features
    )


def test_native_prediction_round_trips_features_outputs_and_raw_inputs() -> None:
    """Numbers, categories and missing values, class scores, and a raw tensor are stored as documented."""
    prediction = native_prediction(
        "p1",
        amount=common_pb2.FeatureValue(number=12.5),
        country=common_pb2.FeatureValue(category="DE"),
        age=common_pb2.FeatureValue(missing=True),
        unset=common_pb2.FeatureValue(),
    )
    prediction.output.scores.labels.extend(["ok", "fraud"])
    prediction.output.scores.scores.extend([0.2, 0.8])
    prediction.raw_inputs["x"].CopyFrom(
        common_pb2.Tensor(dtype=common_pb2.DATA_TYPE_FLOAT32, shape=[1, 2], data=bytes(8))
    )
    decoded = decode_log_predictions(prediction_service_pb2.LogPredictionsRequest(predictions=[prediction]), RECEIVED)
    (record,) = decoded.records
    assert json.loads(record.features) == {"amount": 12.5, "country": "DE", "age": None, "unset": None}
    assert json.loads(record.outputs) == {"labels": ["ok", "fraud"], "scores": [0.2, 0.8], "label": "fraud"}
    assert common_pb2.RawInputs.FromString(record.raw_inputs or b"").tensors["x"].shape == [1, 2]
    assert (record.model_name, record.model_version, record.ts_unix_nano) == ("fraud", "2", RECEIVED)


def test_non_finite_features_become_missing_and_are_counted() -> None:
    """NaN and infinities are stored as missing, never as numbers a detector would choke on."""
    prediction = native_prediction(
        "p1", a=common_pb2.FeatureValue(number=math.nan), b=common_pb2.FeatureValue(number=-math.inf)
    )
    decoded = decode_log_predictions(prediction_service_pb2.LogPredictionsRequest(predictions=[prediction]), RECEIVED)
    assert decoded.non_finite_values == 2
    assert json.loads(decoded.records[0].features) == {"a": None, "b": None}


def test_bad_native_items_are_rejected_alone_with_their_field() -> None:
    """A missing id, a missing model, a NaN score and a tensor of the wrong size each reject one item."""
    no_id = native_prediction("")
    no_model = prediction_service_pb2.Prediction(prediction_id="p2")
    nan_value = native_prediction("p3")
    nan_value.output.value = math.nan
    bad_tensor = native_prediction("p4")
    bad_tensor.raw_inputs["x"].CopyFrom(common_pb2.Tensor(dtype=common_pb2.DATA_TYPE_FLOAT32, shape=[3], data=b"1"))
    good = native_prediction("p5")
    decoded = decode_log_predictions(
        prediction_service_pb2.LogPredictionsRequest(predictions=[no_id, no_model, nan_value, bad_tensor, good]),
        RECEIVED,
    )
    assert [(r.index, r.field) for r in decoded.rejections] == [
        (0, "prediction_id"),
        (1, "model.name"),
        (2, "output.value"),
        (3, "raw_inputs.x"),
    ]
    assert [record.prediction_id for record in decoded.records] == ["p5"]


def test_native_outcomes_need_an_actual_value() -> None:
    """An outcome says what happened; one without is rejected."""
    request = prediction_service_pb2.LogOutcomesRequest(
        outcomes=[
            prediction_service_pb2.Outcome(prediction_id="p1", actual=common_pb2.Output(label="fraud")),
            prediction_service_pb2.Outcome(prediction_id="p2"),
        ]
    )
    decoded = decode_log_outcomes(request, RECEIVED)
    assert [(r.prediction_id, json.loads(r.actual)) for r in decoded.records] == [("p1", {"label": "fraud"})]
    assert [(r.index, r.field) for r in decoded.rejections] == [(1, "actual")]


def test_log_prediction_event_uses_body_then_attributes_for_the_model() -> None:
    """The body shape is read; the model falls back to ml.model.* attributes of the resource."""
    body = {
        "prediction_id": "p1",
        "features": {"amount": 3, "country": "FR", "flag": True, "gone": None},
        "output": {"scores": {"ok": 0.9, "fraud": 0.1}},
        "latency_ms": 4.5,
        "attributes": {"tenant": "acme"},
    }
    decoded = decode_export_logs_request(
        logs_request(
            event("ml.prediction", body, trace_id=bytes(range(16)), span_id=bytes(range(8))),
            resource={"ml.model.name": "fraud", "ml.model.version": "9"},
        ),
        RECEIVED,
    )
    (record,) = decoded.predictions
    assert (record.model_name, record.model_version, record.ts_unix_nano) == ("fraud", "9", 123)
    assert json.loads(record.features) == {"amount": 3.0, "country": "FR", "flag": "true", "gone": None}
    assert json.loads(record.outputs)["label"] == "ok"
    assert (record.trace_id, record.latency_ms, json.loads(record.attributes)) == (
        bytes(range(16)),
        4.5,
        {"tenant": "acme"},
    )


def test_log_events_named_by_attribute_and_outcomes_and_other_logs() -> None:
    """event.name works for older SDKs; outcomes are stored; ordinary logs are counted, not stored."""
    decoded = decode_export_logs_request(
        logs_request(
            event(
                "ml.prediction", {"prediction_id": "p1", "model": "m", "output": {"label": "a"}}, attribute_name=True
            ),
            event("ml.outcome", {"prediction_id": "p1", "actual": {"value": 2}}),
            LogRecord(body=any_value("plain log line")),
        ),
        RECEIVED,
    )
    assert [record.prediction_id for record in decoded.predictions] == ["p1"]
    assert [json.loads(record.actual) for record in decoded.outcomes] == [{"value": 2.0}]
    assert (decoded.other_logs, decoded.total, decoded.rejections) == (1, 3, [])


def test_bad_log_events_are_rejected_with_their_index() -> None:
    """A body that is not a map, or an output of the wrong shape, rejects that record only."""
    decoded = decode_export_logs_request(
        logs_request(
            event("ml.prediction", "not a map"),
            event("ml.prediction", {"prediction_id": "p", "model": "m", "output": {"label": 1}}),
            event("ml.prediction", {"prediction_id": "p", "model": "m", "features": {"x": [1, 2]}}),
            event("ml.prediction", {"prediction_id": "ok", "model": "m"}),
        ),
        RECEIVED,
    )
    assert [(r.index, r.field) for r in decoded.rejections] == [
        (0, "body"),
        (1, "body.output.label"),
        (2, "body.features.x"),
    ]
    assert [record.prediction_id for record in decoded.predictions] == ["ok"]
