"""Decode an OTLP ``ExportTraceServiceRequest`` into span records, reading only the attributes we use.

The convention (documented in the README, "Inference spans"):

- model name: ``ml.model.name``, else ``gen_ai.request.model``, else ``gen_ai.response.model``, else
  OpenInference ``llm.model_name``;
- model version: ``ml.model.version``, else ``gen_ai.response.model`` when it differs from the requested model
  (the dated snapshot a provider actually served), else empty;
- provider: ``gen_ai.provider.name``, else the deprecated ``gen_ai.system``, else ``llm.provider``;
- operation: ``ml.operation``, else ``gen_ai.operation.name``, else the span name;
- tokens: ``gen_ai.usage.input_tokens``/``output_tokens``, the deprecated ``gen_ai.usage.prompt_tokens``/
  ``completion_tokens``, or OpenInference ``llm.token_count.prompt``/``completion``;
- hardware class: a resource attribute (``ml.hardware.class`` unless configured otherwise), which a span
  attribute of the same name overrides;
- error type: ``error.type``; status from the span status.

A span with a model name is an inference span. Decoding every attribute into Python objects costs about
30k spans/s per core (research/otlp-anchors.md); looking at each key and decoding only the dozen we use
keeps the decoder near parse speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.core.domain import ItemRejection, SpanRecord
from collector.core.limits import (
    DEFAULT_MAX_RAW_SPAN_BYTES,
    ERROR_TYPE_CHARS,
    HARDWARE_CLASS_CHARS,
    MAX_TOKENS,
    MAX_UNIX_NANO,
    MODEL_NAME_CHARS,
    MODEL_VERSION_CHARS,
    OPERATION_CHARS,
    PROVIDER_CHARS,
    SERVICE_NAME_CHARS,
    SPAN_KINDS,
    SPAN_NAME_CHARS,
    clamp_text,
)

DEFAULT_HARDWARE_CLASS_ATTRIBUTE = "ml.hardware.class"

_NAME_KEYS = ("ml.model.name", "gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
_INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider")
_OPERATION_KEYS = ("ml.operation", "gen_ai.operation.name")
_STRING_KEYS = frozenset((*_NAME_KEYS, "ml.model.version", *_PROVIDER_KEYS, *_OPERATION_KEYS, "error.type"))
_INT_KEYS = frozenset((*_INPUT_TOKEN_KEYS, *_OUTPUT_TOKEN_KEYS))
# OTLP status codes the spans table allows; any other value an SDK sends is stored as unset.
_STATUS_CODES = frozenset((0, 1, 2))
# A digit string this long is past MAX_TOKENS without converting it (int() refuses 4,300+ digits).
_MAX_TOKEN_DIGITS = len(str(MAX_TOKENS))


@dataclass(frozen=True)
class SpanDecodeOptions:
    """What the span decoder keeps."""

    hardware_class_attribute: str = DEFAULT_HARDWARE_CLASS_ATTRIBUTE
    keep_non_inference_spans: bool = False
    # The serialized span keeps every attribute and event for later inspection, at about 150 bytes a span.
    keep_raw_spans: bool = True
    # A span whose serialized form is larger keeps its columns but not its raw bytes (counted).
    max_raw_span_bytes: int = DEFAULT_MAX_RAW_SPAN_BYTES


@dataclass
class DecodedSpans:
    """The outcome of decoding one request: the records to store and what was rejected or skipped."""

    records: list[SpanRecord] = field(default_factory=list)
    rejections: list[ItemRejection] = field(default_factory=list)
    non_inference: int = 0
    total: int = 0
    # Values cut or clamped to what the database stores (long text, huge token counts, unknown enums).
    clamped: int = 0
    # Spans stored without their raw bytes because those were over ``max_raw_span_bytes``.
    raw_dropped: int = 0


def _first_str(values: dict[str, str | None], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = values.get(key)
        if value:
            return value
    return None


def _first_int(values: dict[str, int | None], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = values.get(key)
        if value is not None:
            return value
    return None


def _int_value(any_value: AnyValue) -> int | None:
    """Token counts arrive as int, sometimes as double or a numeric string; negative ones mean nothing.

    The result may be past MAX_TOKENS; the caller clamps it and counts that."""
    kind = any_value.WhichOneof("value")
    if kind == "int_value":
        number = int(any_value.int_value)
    elif kind == "double_value":
        raw = any_value.double_value
        if not math.isfinite(raw):
            return None
        number = MAX_TOKENS + 1 if raw > MAX_TOKENS else int(raw)
    elif kind == "string_value":
        text = any_value.string_value.strip()
        # isdigit() alone is true for "²" and other digits int() refuses.
        if not (text.isascii() and text.isdigit()):
            return None
        number = MAX_TOKENS + 1 if len(text) > _MAX_TOKEN_DIGITS else int(text)
    else:
        return None
    return number if number >= 0 else None


def _string_value(any_value: AnyValue) -> str | None:
    kind = any_value.WhichOneof("value")
    if kind == "string_value":
        return any_value.string_value
    if kind == "int_value":
        return str(any_value.int_value)
    if kind == "double_value":
        return str(any_value.double_value)
    if kind == "bool_value":
        return "true" if any_value.bool_value else "false"
    return None


def _resource_strings(attributes: Iterable[KeyValue], keys: frozenset[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for kv in attributes:
        if kv.key in keys:
            value = _string_value(kv.value)
            if value:
                found[kv.key] = value
    return found


class _Clamp:
    """Cuts values to their column and counts how many it changed."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def text(self, value: str | None, limit: int) -> str | None:
        if value is None:
            return None
        clamped, changed = clamp_text(value, limit)
        self.count += changed
        return clamped

    def tokens(self, value: int | None) -> int | None:
        if value is None or value <= MAX_TOKENS:
            return value
        self.count += 1
        return MAX_TOKENS

    def one_of(self, value: int, allowed: range | frozenset[int]) -> int:
        if value in allowed:
            return value
        self.count += 1
        return 0


def decode_export_trace_request(request: ExportTraceServiceRequest, options: SpanDecodeOptions) -> DecodedSpans:
    """Turn a parsed request into span records; a bad span is rejected alone, never the whole request.

    Every value is cut to what its column stores (``collector.core.limits``), so what is acknowledged is stored.
    """
    result = DecodedSpans()
    records = result.records
    clamp = _Clamp()
    hardware_key = options.hardware_class_attribute
    wanted = _STRING_KEYS | {hardware_key}
    resource_keys = frozenset(("service.name", hardware_key))
    max_raw = options.max_raw_span_bytes
    index = -1
    for resource_spans in request.resource_spans:
        resource = _resource_strings(resource_spans.resource.attributes, resource_keys)
        service_name = clamp.text(resource.get("service.name", ""), SERVICE_NAME_CHARS) or ""
        resource_hardware = resource.get(hardware_key)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                index += 1
                rejection = _check_span(
                    index, span.trace_id, span.span_id, span.start_time_unix_nano, span.end_time_unix_nano
                )
                if rejection is not None:
                    result.rejections.append(rejection)
                    continue
                strings: dict[str, str | None] = {}
                ints: dict[str, int | None] = {}
                for kv in span.attributes:
                    key = kv.key
                    if key in wanted:
                        strings[key] = _string_value(kv.value)
                    elif key in _INT_KEYS:
                        ints[key] = _int_value(kv.value)
                model_name = _first_str(strings, _NAME_KEYS)
                if model_name is None:
                    result.non_inference += 1
                    if not options.keep_non_inference_spans:
                        continue
                version = strings.get("ml.model.version")
                if version is None and model_name is not None:
                    served = strings.get("gen_ai.response.model")
                    requested = strings.get("gen_ai.request.model")
                    version = served if served and requested and served != requested else ""
                raw = span.SerializeToString() if options.keep_raw_spans else None
                if raw is not None and len(raw) > max_raw:
                    raw = None
                    result.raw_dropped += 1
                name = clamp.text(span.name, SPAN_NAME_CHARS) or ""
                records.append(
                    SpanRecord(
                        span.trace_id,
                        span.span_id,
                        span.parent_span_id or None,
                        name,
                        clamp.one_of(span.kind, SPAN_KINDS),
                        service_name,
                        clamp.text(model_name, MODEL_NAME_CHARS),
                        clamp.text(version, MODEL_VERSION_CHARS),
                        clamp.text(_first_str(strings, _OPERATION_KEYS) or name, OPERATION_CHARS),
                        clamp.text(_first_str(strings, _PROVIDER_KEYS), PROVIDER_CHARS),
                        clamp.text(strings.get(hardware_key) or resource_hardware, HARDWARE_CLASS_CHARS),
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                        clamp.one_of(span.status.code, _STATUS_CODES),
                        clamp.text(strings.get("error.type"), ERROR_TYPE_CHARS),
                        clamp.tokens(_first_int(ints, _INPUT_TOKEN_KEYS)),
                        clamp.tokens(_first_int(ints, _OUTPUT_TOKEN_KEYS)),
                        model_name is not None,
                        raw,
                    )
                )
    result.total = index + 1
    result.clamped = clamp.count
    return result


def _check_span(index: int, trace_id: bytes, span_id: bytes, start: int, end: int) -> ItemRejection | None:
    """Why a span cannot be stored at all, or None: its ids and times are its identity and its place in time."""
    if len(trace_id) != 16 or trace_id == bytes(16):
        return ItemRejection(index, "trace_id", "must be 16 bytes, not all zero")
    if len(span_id) != 8 or span_id == bytes(8):
        return ItemRejection(index, "span_id", "must be 8 bytes, not all zero")
    if end > MAX_UNIX_NANO:
        field = "start_time_unix_nano" if start > MAX_UNIX_NANO else "end_time_unix_nano"
        return ItemRejection(index, field, f"is past 2262-04-11, the latest time stored ({max(start, end)})")
    if end < start:
        return ItemRejection(index, "end_time_unix_nano", f"ends before it starts ({end} < {start})")
    return None
