"""Decoding OTLP trace exports: the inference-span convention, validation per span, what is kept."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collector.ingest.otlp_traces import SpanDecodeOptions, decode_export_trace_request

TRACE = bytes(range(1, 17))


def kv(key: str, value: object) -> KeyValue:
    """One OTLP attribute."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def span(number: int, attributes: dict[str, object], **fields: object) -> Span:
    """A valid span with the given attributes; ``fields`` override the defaults."""
    values: dict[str, object] = {
        "trace_id": TRACE,
        "span_id": number.to_bytes(8, "big"),
        "name": "predict",
        "start_time_unix_nano": 1_000,
        "end_time_unix_nano": 2_000,
    }
    values.update(fields)
    return Span(attributes=[kv(k, v) for k, v in attributes.items()], **values)  # type: ignore[arg-type]


def request(*spans: Span, resource: dict[str, object] | None = None) -> ExportTraceServiceRequest:
    """One resource, one scope, the given spans."""
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    for key, value in (resource or {"service.name": "scorer"}).items():
        resource_spans.resource.attributes.append(kv(key, value))
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def test_ml_attributes_define_an_inference_span() -> None:
    """ml.model.name/version, the hardware class from the resource and the service name are read."""
    decoded = decode_export_trace_request(
        request(
            span(1, {"ml.model.name": "fraud", "ml.model.version": "7", "other": "x"}),
            resource={"service.name": "scorer", "ml.hardware.class": "nvidia-t4"},
        ),
        SpanDecodeOptions(),
    )
    (record,) = decoded.records
    assert (record.model_name, record.model_version, record.hardware_class) == ("fraud", "7", "nvidia-t4")
    assert (record.service_name, record.operation, record.is_inference) == ("scorer", "predict", True)
    assert (record.start_unix_nano, record.end_unix_nano, record.status_code) == (1_000, 2_000, 0)
    assert Span.FromString(record.raw or b"").attributes[2].key == "other"


def test_genai_attributes_give_model_version_provider_and_tokens() -> None:
    """The served model is the version when it differs from the requested one; tokens are read."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
    }
    (record,) = decode_export_trace_request(request(span(1, attributes)), SpanDecodeOptions()).records
    assert (record.model_name, record.model_version, record.provider) == ("gpt-4o", "gpt-4o-2024-08-06", "openai")
    assert (record.operation, record.input_tokens, record.output_tokens) == ("chat", 120, 30)


def test_deprecated_genai_and_openinference_names_are_read() -> None:
    """gen_ai.system, prompt/completion tokens, and OpenInference llm.* attributes all work."""
    deprecated = {
        "gen_ai.request.model": "m",
        "gen_ai.system": "anthropic",
        "gen_ai.usage.prompt_tokens": 5,
        "gen_ai.usage.completion_tokens": 6,
    }
    openinference = {
        "llm.model_name": "llama",
        "llm.provider": "meta",
        "llm.token_count.prompt": 7,
        "llm.token_count.completion": 8.0,
    }
    first, second = decode_export_trace_request(
        request(span(1, deprecated), span(2, openinference)), SpanDecodeOptions()
    ).records
    assert (first.provider, first.input_tokens, first.output_tokens, first.model_version) == ("anthropic", 5, 6, "")
    assert (second.model_name, second.provider, second.input_tokens, second.output_tokens) == ("llama", "meta", 7, 8)


def test_error_status_and_type_are_kept() -> None:
    """Span status and error.type make the error rate."""
    failed = span(1, {"ml.model.name": "m", "error.type": "TimeoutError"}, status=Status(code=Status.STATUS_CODE_ERROR))
    (record,) = decode_export_trace_request(request(failed), SpanDecodeOptions()).records
    assert (record.status_code, record.error_type) == (2, "TimeoutError")


def test_non_inference_spans_are_counted_and_dropped_or_kept() -> None:
    """Spans without a model are counted; configuration decides whether they are stored."""
    plain = request(span(1, {"http.route": "/x"}), span(2, {"ml.model.name": "m"}))
    dropped = decode_export_trace_request(plain, SpanDecodeOptions())
    kept = decode_export_trace_request(plain, SpanDecodeOptions(keep_non_inference_spans=True))
    assert (len(dropped.records), dropped.non_inference, dropped.total) == (1, 1, 2)
    assert [record.is_inference for record in kept.records] == [False, True]
    assert kept.records[0].model_name is None


def test_bad_spans_are_rejected_one_by_one() -> None:
    """Bad ids and an end before the start reject that span only, with its index and field."""
    decoded = decode_export_trace_request(
        request(
            span(1, {"ml.model.name": "m"}, trace_id=b"short"),
            span(2, {"ml.model.name": "m"}, span_id=bytes(8)),
            span(3, {"ml.model.name": "m"}, start_time_unix_nano=5, end_time_unix_nano=4),
            span(4, {"ml.model.name": "m"}),
        ),
        SpanDecodeOptions(),
    )
    assert [(r.index, r.field) for r in decoded.rejections] == [
        (0, "trace_id"),
        (1, "span_id"),
        (2, "end_time_unix_nano"),
    ]
    assert [record.span_id for record in decoded.records] == [(4).to_bytes(8, "big")]


def test_negative_or_garbage_token_counts_are_missing() -> None:
    """A token count that is negative or not a number is stored as unknown, not as a wrong number."""
    attributes = {"ml.model.name": "m", "gen_ai.usage.input_tokens": -3, "gen_ai.usage.output_tokens": "many"}
    (record,) = decode_export_trace_request(request(span(1, attributes)), SpanDecodeOptions()).records
    assert (record.input_tokens, record.output_tokens) == (None, None)


def test_configured_hardware_attribute_and_span_override() -> None:
    """The hardware-class key is configurable, and a span attribute beats the resource."""
    options = SpanDecodeOptions(hardware_class_attribute="host.gpu")
    decoded = decode_export_trace_request(
        request(
            span(1, {"ml.model.name": "m"}),
            span(2, {"ml.model.name": "m", "host.gpu": "nvidia-h100"}),
            resource={"host.gpu": "cpu"},
        ),
        options,
    )
    assert [record.hardware_class for record in decoded.records] == ["cpu", "nvidia-h100"]


def test_raw_span_can_be_turned_off() -> None:
    """keep_raw_spans=False stores only the extracted columns."""
    (record,) = decode_export_trace_request(
        request(span(1, {"ml.model.name": "m"})), SpanDecodeOptions(keep_raw_spans=False)
    ).records
    assert record.raw is None
