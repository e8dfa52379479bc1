"""The native span scanner gives exactly what the Python decoder (its specification) gives.

Random requests cover every rule the scanner implements and every case it must hand back: ids and times that
are rejected, text past each column's width or holding NUL, multi-byte characters near the widths, token
counts of every kind, kinds and statuses out of range, duplicate attributes, singular fields sent twice
(which protobuf merges), several resources and scopes, and every decode option.
"""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.ingest import otlp_traces
from collector.ingest.otlp_traces import DecodedSpans, SpanDecodeOptions, decode_export_trace_request

SCANNED_KEYS = (
    "ml.model.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "ml.model.version",
    "gen_ai.provider.name",
    "gen_ai.system",
    "llm.provider",
    "ml.operation",
    "gen_ai.operation.name",
    "error.type",
    "ml.hardware.class",
    "host.type",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "http.route",
    "",
)
WIDTHS = (64, 128, 256, 512)
MAX_INT64 = 2**63 - 1


@pytest.fixture(autouse=True, scope="module")
def scanner_is_built() -> None:
    if otlp_traces._span_scan is None:
        message = "the native span scanner is not built (pip install -e . builds it)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def texts() -> st.SearchStrategy[str]:
    """Short text, text near a column's width in one- and multi-byte characters, text with NUL."""
    near_width = st.builds(
        lambda width, delta, char: char * (width + delta),
        st.sampled_from(WIDTHS),
        st.integers(-1, 1),
        st.sampled_from(["a", "é", "模", "🙂"]),
    )
    return st.one_of(
        st.sampled_from(["", "gpt-4o", "gpt-4o-2024-08-06", "3", "chat", "openai", "nvidia-t4", "timeout"]),
        st.text(max_size=12),
        near_width,
        st.just("a\x00b"),
    )


def any_values() -> st.SearchStrategy[AnyValue | None]:
    return st.one_of(
        st.none(),
        st.just(AnyValue()),
        texts().map(lambda text: AnyValue(string_value=text)),
        st.booleans().map(lambda flag: AnyValue(bool_value=flag)),
        st.one_of(
            st.integers(-5, 5000),
            st.sampled_from([2**31 - 1, 2**31, -(2**63), MAX_INT64]),
        ).map(lambda number: AnyValue(int_value=number)),
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([12.0, 1e12, -3.5]),
        ).map(lambda number: AnyValue(double_value=number)),
        st.just(AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="x")]))),
        st.just(AnyValue(bytes_value=b"\x00\x01")),
        st.sampled_from(["  42 ", "7", "x1", "²", "9" * 12]).map(lambda text: AnyValue(string_value=text)),
    )


def attributes() -> st.SearchStrategy[list[KeyValue]]:
    def attribute(key: str, value: AnyValue | None) -> KeyValue:
        return KeyValue(key=key) if value is None else KeyValue(key=key, value=value)

    return st.lists(st.builds(attribute, st.sampled_from(SCANNED_KEYS), any_values()), max_size=14)


def ids(size: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(min_size=size, max_size=size).filter(any),
        st.just(bytes(size)),
        st.binary(max_size=size + 2),
    )


@st.composite
def span_bytes(draw: st.DrawFn) -> bytes:
    """A serialized span; sometimes followed by a second partial span, which protobuf merges into it."""
    start = draw(st.one_of(st.integers(0, 2**64 - 1), st.just(1_700_000_000_000_000_000)))
    end = draw(st.one_of(st.integers(0, 2**64 - 1), st.just(start + 5_000), st.just(MAX_INT64 + 1)))
    span = Span(
        trace_id=draw(ids(16)),
        span_id=draw(ids(8)),
        parent_span_id=draw(st.one_of(st.just(b""), ids(8))),
        name=draw(texts()),
        kind=Span.SpanKind.ValueType(draw(st.sampled_from([0, 1, 3, 5, 6, -1]))),
        start_time_unix_nano=start,
        end_time_unix_nano=end % 2**64,
        attributes=draw(attributes()),
    )
    if draw(st.booleans()):
        code = Status.StatusCode.ValueType(draw(st.sampled_from([0, 1, 2, 3, -2])))
        span.status.CopyFrom(Status(code=code, message="m"))
    wire = span.SerializeToString()
    if draw(st.integers(0, 5)) == 0:
        extra = draw(
            st.sampled_from(
                [
                    Span(status=Status(code=Status.STATUS_CODE_ERROR)),
                    Span(name="renamed"),
                    Span(attributes=[KeyValue(key="ml.model.name", value=AnyValue(string_value="late"))]),
                ]
            )
        )
        wire += extra.SerializeToString()
    return wire


def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        out.append(number & 0x7F | (0x80 if number > 0x7F else 0))
        number >>= 7
        if not number:
            return bytes(out)


def length_delimited(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """An ExportTraceServiceRequest's bytes, built at the wire level so that spans can carry merged fields."""
    request = b""
    for _ in range(draw(st.integers(0, 3))):
        resource = Resource(
            attributes=[
                KeyValue(key=key, value=AnyValue(string_value=value))
                for key, value in draw(
                    st.lists(st.tuples(st.sampled_from(["service.name", "ml.hardware.class", "host.type"]), texts()))
                )
            ]
        )
        resource_spans = length_delimited(1, resource.SerializeToString())
        for _ in range(draw(st.integers(0, 2))):
            scope = b"".join(length_delimited(2, span) for span in draw(st.lists(span_bytes(), max_size=6)))
            resource_spans += length_delimited(2, scope)
        request += length_delimited(1, resource_spans)
    return request


def options() -> st.SearchStrategy[SpanDecodeOptions]:
    return st.builds(
        SpanDecodeOptions,
        hardware_class_attribute=st.sampled_from(["ml.hardware.class", "host.type", "gen_ai.system"]),
        keep_non_inference_spans=st.booleans(),
        keep_raw_spans=st.booleans(),
        max_raw_span_bytes=st.sampled_from([40, 200, 65536]),
    )


def comparable(decoded: DecodedSpans) -> tuple[object, ...]:
    """Everything decoded, with raw spans compared as messages and NaN-free (no float fields exist)."""
    records = [
        (*record[:-1], None if record.raw is None else Span.FromString(record.raw)) for record in decoded.records
    ]
    return (
        records,
        decoded.rejections,
        decoded.non_inference,
        decoded.total,
        decoded.clamped,
        decoded.raw_dropped,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire=requests(), decode_options=options())
def test_the_scanner_decodes_as_the_python_decoder(wire: bytes, decode_options: SpanDecodeOptions) -> None:
    request = ExportTraceServiceRequest.FromString(wire)
    expected = decode_export_trace_request(request, decode_options)
    scanned = decode_export_trace_request(request, decode_options, wire)
    assert comparable(scanned) == comparable(expected)


def request_with_every_rule() -> ExportTraceServiceRequest:
    """Two resources: one span the scanner reads and one it must hand back in each."""
    plain = Span(
        trace_id=bytes(range(1, 17)),
        span_id=bytes(range(1, 9)),
        name="chat gpt-4o",
        start_time_unix_nano=1_000,
        end_time_unix_nano=2_000,
        attributes=[
            KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")),
            KeyValue(key="gen_ai.response.model", value=AnyValue(string_value="gpt-4o-2024-08-06")),
            KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=12)),
            KeyValue(key="gen_ai.usage.output_tokens", value=AnyValue(string_value="7")),
        ],
    )
    long_name = Span()
    long_name.CopyFrom(plain)
    long_name.span_id = bytes(range(2, 10))
    long_name.name = "n" * 600
    request = ExportTraceServiceRequest()
    for service in ("a", "b"):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
        resource_spans.scope_spans.add().spans.extend([plain, long_name])
    return request


def test_spans_handed_back_keep_their_places_and_counts() -> None:
    """A span past a width is decoded by Python in its place; the tokens sent as text are read there too."""
    request = request_with_every_rule()
    wire = request.SerializeToString()
    decoded = decode_export_trace_request(request, SpanDecodeOptions(), wire)
    assert [(record.service_name, len(record.name)) for record in decoded.records] == [
        ("a", 11),
        ("a", 512),
        ("b", 11),
        ("b", 512),
    ]
    assert decoded.clamped == 4  # each long name, and the operation taken from it
    assert [(record.model_version, record.input_tokens, record.output_tokens) for record in decoded.records] == [
        ("gpt-4o-2024-08-06", 12, 7)
    ] * 4
    assert comparable(decoded) == comparable(decode_export_trace_request(request, SpanDecodeOptions()))


def test_a_request_the_scanner_does_not_read_is_decoded_in_python() -> None:
    """An unknown group field (legal protobuf, unused by OTLP) makes the scanner decline the whole request."""
    request = request_with_every_rule()
    group = varint(99 << 3 | 3) + varint(99 << 3 | 4)  # an empty group, field 99
    span = request.resource_spans[0].scope_spans[0].spans[0].SerializeToString() + group
    wire = length_delimited(1, length_delimited(2, length_delimited(2, span)))
    parsed = ExportTraceServiceRequest.FromString(wire)
    assert otlp_traces._span_scan is not None
    assert otlp_traces._span_scan.scan(wire, [("", None)], "ml.hardware.class", False, True, 65536, tuple) is None
    decoded = decode_export_trace_request(parsed, SpanDecodeOptions(), wire)
    assert [record.model_name for record in decoded.records] == ["gpt-4o"]


def test_the_scanner_refuses_a_record_type_that_is_not_a_named_tuple() -> None:
    assert otlp_traces._span_scan is not None
    with pytest.raises(TypeError, match="NamedTuple"):
        otlp_traces._span_scan.scan(b"", [], "ml.hardware.class", False, True, 65536, dict)


def test_non_finite_doubles_as_text_match_python() -> None:
    """str(float) in C and Python agree for the values that have odd spellings."""
    for number in (math.inf, -math.inf, math.nan, 1e16, 0.1, -0.0):
        attribute = KeyValue(key="ml.model.version", value=AnyValue(double_value=number))
        span = Span(
            trace_id=bytes(range(1, 17)),
            span_id=bytes(range(1, 9)),
            start_time_unix_nano=1,
            end_time_unix_nano=2,
            attributes=[KeyValue(key="ml.model.name", value=AnyValue(string_value="m")), attribute],
        )
        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add().spans.append(span)
        (record,) = decode_export_trace_request(request, SpanDecodeOptions(), request.SerializeToString()).records
        assert record.model_version == str(number)
