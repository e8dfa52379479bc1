"""OTLP JSON parsing: every message an OTLP request can hold comes back exactly, and bad values are named."""

from __future__ import annotations

import base64
import math
import random
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.service.otlp_json import HEX_ID_FIELDS, OtlpJsonError, parse

REQUESTS = (ExportTraceServiceRequest, ExportLogsServiceRequest, ExportMetricsServiceRequest)
_DOUBLES = (0.0, -0.0, 1.5, -3e300, 5e-324, math.inf, -math.inf, math.nan)
_INTEGER_BOUNDS = {
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
}


def random_message(message: Message, rng: random.Random, depth: int = 0) -> Message:
    """Fill every kind of field of ``message`` at random (each present or not), nesting up to 5 deep."""
    descriptor: Any = message.DESCRIPTOR
    for field in descriptor.fields:
        if rng.random() < 0.4:
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 5:
                continue
            if field.is_repeated:
                for _ in range(rng.randint(0, 3)):
                    random_message(getattr(message, field.name).add(), rng, depth + 1)
            else:
                random_message(getattr(message, field.name), rng, depth + 1)
                getattr(message, field.name).SetInParent()
        elif field.is_repeated:
            getattr(message, field.name).extend(random_scalar(field, rng) for _ in range(rng.randint(0, 3)))
        else:
            setattr(message, field.name, random_scalar(field, rng))
    return message


def random_scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return rng.choice(["", "fraud", "ünïcode ✓", '"quoted"\n', "x" * 50])
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice(_DOUBLES) if kind == FieldDescriptor.TYPE_DOUBLE else rng.choice((0.0, 1.5, -2.25))
    if kind == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.choice((0, 8, 16, 3)))
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return rng.choice([value.number for value in field.enum_type.values])
    low, high = _INTEGER_BOUNDS[kind]
    return rng.choice((low, high, 0, 1, rng.randint(low, high)))


def as_otlp_json(message: Message, *, proto_names: bool = False, enum_names: bool = False) -> dict[str, Any]:
    """The OTLP JSON a client sends: protobuf's JSON mapping with hex trace and span ids."""
    document = json_format.MessageToDict(
        message, preserving_proto_field_name=proto_names, use_integers_for_enums=not enum_names
    )
    converted: dict[str, Any] = _hex_ids(document)
    return converted


def _hex_ids(value: Any) -> Any:
    keys = HEX_ID_FIELDS | {"traceId", "spanId", "parentSpanId"}
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in keys and isinstance(item, str) else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


@pytest.mark.parametrize("request_type", REQUESTS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("style", ["otlp", "proto names", "enum names"])
def test_every_field_comes_back_exactly(request_type: type[Message], style: str) -> None:
    """Random requests with every kind of field (nested AnyValues, NaN and infinite doubles, 64-bit bounds,
    empty and odd-length bytes) survive JSON and back bit for bit."""
    for seed in range(150):
        original = random_message(request_type(), random.Random(seed))
        document = as_otlp_json(original, proto_names=style == "proto names", enum_names=style == "enum names")
        parsed = parse(document, request_type())
        assert parsed.SerializeToString(deterministic=True) == original.SerializeToString(deterministic=True), seed


def test_the_loose_forms_the_json_mapping_allows() -> None:
    """Integers as strings or whole floats, doubles as strings, URL-safe unpadded base64, null as absent,
    unknown keys ignored, and an empty object still choosing its oneof."""
    document = {
        "resourceSpans": [
            {
                "unknownField": {"anything": [1, 2]},
                "resource": {
                    "attributes": [
                        {"key": "a", "value": {"intValue": 7.0}},
                        {"key": "b", "value": {"doubleValue": "2.5"}},
                        {"key": "c", "value": {"bytesValue": "_-8"}},
                        {"key": "d", "value": {"kvlistValue": {}}},
                        {"key": "e", "value": None},
                    ]
                },
                "scopeSpans": [{"spans": [{"startTimeUnixNano": "1e3", "kind": "SPAN_KIND_SERVER", "status": None}]}],
            }
        ]
    }
    request = parse(document, ExportTraceServiceRequest())
    attributes = request.resource_spans[0].resource.attributes
    assert attributes[0].value.int_value == 7
    assert attributes[1].value.double_value == 2.5
    assert attributes[2].value.bytes_value == b"\xff\xef"
    assert attributes[3].value.WhichOneof("value") == "kvlist_value"
    assert not attributes[4].HasField("value")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.start_time_unix_nano == 1000
    assert span.kind == 2
    assert not span.HasField("status")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"resourceSpans": {}}, "$.resourceSpans must be a list, got an object"),
        ({"resourceSpans": [3]}, "$.resourceSpans[0] must be an object (opentelemetry.proto.trace.v1.ResourceSpans)"),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]},
            "$.resourceSpans[0].scopeSpans[0].spans[0].traceId must be a hex string, got 'zz'",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "SPAN_KIND_NOPE"}]}]}]},
            "spans[0].kind must be an integer, got the string 'SPAN_KIND_NOPE'",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "-1"}]}]}]},
            "startTimeUnixNano is out of range: '-1'",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"droppedEventsCount": 1.5}]}]}]},
            "droppedEventsCount must be an integer, got the number 1.5",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]},
            "spans[0].name must be a string, got the number 5",
        ),
        (
            {"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"boolValue": "yes"}}]}}]},
            "attributes[0].value.boolValue must be true or false, got the string 'yes'",
        ),
        (
            {"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"doubleValue": "lots"}}]}}]},
            "doubleValue must be a number",
        ),
        (
            {"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"bytesValue": "%%"}}]}}]},
            "bytesValue must be a base64 string, got '%%'",
        ),
    ],
)
def test_a_bad_value_is_named_by_its_path(document: dict[str, Any], message: str) -> None:
    with pytest.raises(OtlpJsonError) as raised:
        parse(document, ExportTraceServiceRequest())
    assert message in str(raised.value)
