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

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

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
_INT_KEYS = frozenset((*_INPUT_TOKEN_KEYS, *_OUTPUT_TOKEN_KEYS))
# OTLP status codes the spans table allows; any other value an SDK sends is stored as unset.
_STATUS_CODES = frozenset((0, 1, 2))
# A digit string this long is past MAX_TOKENS without converting it (int() refuses 4,300+ digits).
_MAX_TOKEN_DIGITS = len(str(MAX_TOKENS))


logger = logging.getLogger(__name__)


def _load_scanner() -> ModuleType | None:
    """The native span scanner, when it is built and agrees with this module's limits; else None (this module
    then decodes every span, about four times slower)."""
    try:
        from collector.ingest import _span_scan  # type: ignore[attr-defined]
    except ImportError as error:
        logger.warning("the native span scanner is not built (%s); spans are decoded in Python", error)
        return None
    expected = (
        _text_limits(DEFAULT_HARDWARE_CLASS_ATTRIBUTE) | {DEFAULT_HARDWARE_CLASS_ATTRIBUTE: HARDWARE_CLASS_CHARS},
        HARDWARE_CLASS_CHARS,
        SPAN_NAME_CHARS,
        OPERATION_CHARS,
        MODEL_VERSION_CHARS,
        MAX_TOKENS,
        max(SPAN_KINDS),
        max(_STATUS_CODES),
    )
    compiled = _span_scan.compiled_limits()
    compiled[0][DEFAULT_HARDWARE_CLASS_ATTRIBUTE] = compiled[1]
    if compiled != expected:
        logger.warning("the native span scanner was built with other limits; rebuild it (pip install -e .)")
        return None
    return _span_scan  # type: ignore[no-any-return]


def native_scanner_reads(hardware_key: str) -> bool:
    """Whether the native scanner can read requests for this hardware-class attribute: not when that
    attribute is also one the rules read for something else (then only this module knows which wins)."""
    return _span_scan is not None and hardware_key not in _SCANNER_KEYS


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


def _text_limits(hardware_key: str) -> dict[str, int]:
    """The column width of every attribute the decoder reads as text."""
    limits = dict.fromkeys(_NAME_KEYS, MODEL_NAME_CHARS)
    limits.update(dict.fromkeys(_PROVIDER_KEYS, PROVIDER_CHARS))
    limits.update(dict.fromkeys(_OPERATION_KEYS, OPERATION_CHARS))
    limits.update({"ml.model.version": MODEL_VERSION_CHARS, "error.type": ERROR_TYPE_CHARS})
    limits[hardware_key] = HARDWARE_CLASS_CHARS
    return limits


def _fit(value: str | None, limit: int) -> str | None:
    """``value`` as its column stores it (see ``clamp_text``); the caller counts the change."""
    return None if value is None else clamp_text(value, limit)[0]


def _fits(value: str | None, limit: int) -> bool:
    return value is None or (len(value) <= limit and "\x00" not in value)


def _resource_labels(attributes: Iterable[KeyValue], hardware_key: str) -> tuple[str, str | None, int]:
    """The resource's service name and hardware class, cut to their columns, and how many were cut."""
    resource = _resource_strings(attributes, frozenset(("service.name", hardware_key)))
    service_name: str | None = resource.get("service.name", "")
    hardware = resource.get(hardware_key)
    clamped = 0
    if not _fits(service_name, SERVICE_NAME_CHARS):
        service_name, clamped = _fit(service_name, SERVICE_NAME_CHARS), clamped + 1
    if not _fits(hardware, HARDWARE_CLASS_CHARS):
        hardware, clamped = _fit(hardware, HARDWARE_CLASS_CHARS), clamped + 1
    return service_name or "", hardware, clamped


def _attributes(
    attributes: Iterable[KeyValue], limits: dict[str, int]
) -> tuple[dict[str, str | None], dict[str, int | None], int]:
    """The text and token attributes the decoder reads, cut to their columns, and how many were cut."""
    strings: dict[str, str | None] = {}
    ints: dict[str, int | None] = {}
    clamped = 0
    for kv in attributes:
        key = kv.key
        limit = limits.get(key)
        if limit is not None:
            value = _string_value(kv.value)
            if value is not None and (len(value) > limit or "\x00" in value):
                value, clamped = _fit(value, limit), clamped + 1
            strings[key] = value
        elif key in _INT_KEYS:
            number = _int_value(kv.value)
            if number is not None and number > MAX_TOKENS:
                number, clamped = MAX_TOKENS, clamped + 1
            ints[key] = number
    return strings, ints, clamped


def decode_export_trace_request(
    request: ExportTraceServiceRequest, options: SpanDecodeOptions, raw: bytes | None = None
) -> DecodedSpans:
    """Turn a parsed request into span records; a bad span is rejected alone, never the whole request.

    Every value is cut to what its column stores (``collector.core.limits``), so what is acknowledged is stored.
    ``raw``, the bytes ``request`` was parsed from, lets the native scanner (``_span_scan.c``) read the spans
    that need no cutting; this module decodes the rest, and everything when the scanner is not built.
    """
    result = DecodedSpans()
    hardware_key = options.hardware_class_attribute
    labels: list[tuple[str, str | None]] = []
    for resource_spans in request.resource_spans:
        service_name, resource_hardware, cut = _resource_labels(resource_spans.resource.attributes, hardware_key)
        result.clamped += cut
        labels.append((service_name, resource_hardware))
    scan = None
    if raw is not None and native_scanner_reads(hardware_key):
        assert _span_scan is not None
        scan = _span_scan.scan(
            raw,
            labels,
            hardware_key,
            options.keep_non_inference_spans,
            options.keep_raw_spans,
            options.max_raw_span_bytes,
            SpanRecord,
        )
    limits = _text_limits(hardware_key)
    if scan is None:
        index = -1
        for resource_spans, label in zip(request.resource_spans, labels, strict=True):
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    index += 1
                    record = _decode_span(span, index, label, limits=limits, options=options, result=result)
                    if record is not None:
                        result.records.append(record)
        result.total = index + 1
        return result
    records, handover, result.non_inference, result.raw_dropped, result.total = scan
    if not handover:
        result.records = records
        return result
    # The spans the scanner handed over, decoded here, in their places.
    decoded = iter(
        _decode_span(
            request.resource_spans[resource].scope_spans[scope].spans[position],
            index,
            labels[resource],
            limits=limits,
            options=options,
            result=result,
        )
        for index, resource, scope, position in handover
    )
    result.records = [
        record for record in (next(decoded) if record is None else record for record in records) if record is not None
    ]
    return result


def _decode_span(
    span: Span,
    index: int,
    label: tuple[str, str | None],
    *,
    limits: dict[str, int],
    options: SpanDecodeOptions,
    result: DecodedSpans,
) -> SpanRecord | None:
    """One span's record, or None when it is rejected or skipped (counted in ``result``). ``label``: the
    resource's service name and hardware class.

    The specification of the native scanner's fast path: it must give what this gives for every span it reads.
    """
    service_name, resource_hardware = label
    rejection = _check_span(index, span.trace_id, span.span_id, span.start_time_unix_nano, span.end_time_unix_nano)
    if rejection is not None:
        result.rejections.append(rejection)
        return None
    strings, ints, clamped = _attributes(span.attributes, limits)
    model_name = _first_str(strings, _NAME_KEYS)
    if model_name is None:
        result.non_inference += 1
        if not options.keep_non_inference_spans:
            result.clamped += clamped
            return None
    version = strings.get("ml.model.version")
    if version is None and model_name is not None:
        served = strings.get("gen_ai.response.model")
        requested = strings.get("gen_ai.request.model")
        version = served if served and requested and served != requested else ""
        if len(version) > MODEL_VERSION_CHARS:  # a model name used as the version
            version, clamped = version[:MODEL_VERSION_CHARS], clamped + 1
    raw = span.SerializeToString() if options.keep_raw_spans else None
    if raw is not None and len(raw) > options.max_raw_span_bytes:
        raw = None
        result.raw_dropped += 1
    name = span.name
    if not _fits(name, SPAN_NAME_CHARS):
        name, clamped = _fit(name, SPAN_NAME_CHARS) or "", clamped + 1
    operation = _first_str(strings, _OPERATION_KEYS) or name
    if len(operation) > OPERATION_CHARS:  # the span name, which may be wider
        operation, clamped = operation[:OPERATION_CHARS], clamped + 1
    kind = int(span.kind)
    if kind not in SPAN_KINDS:
        kind, clamped = 0, clamped + 1
    status_code = int(span.status.code)
    if status_code not in _STATUS_CODES:
        status_code, clamped = 0, clamped + 1
    result.clamped += clamped
    return SpanRecord(
        span.trace_id,
        span.span_id,
        span.parent_span_id or None,
        name,
        kind,
        service_name,
        model_name,
        version,
        operation,
        _first_str(strings, _PROVIDER_KEYS),
        strings.get(options.hardware_class_attribute) or resource_hardware,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        status_code,
        strings.get("error.type"),
        _first_int(ints, _INPUT_TOKEN_KEYS),
        _first_int(ints, _OUTPUT_TOKEN_KEYS),
        model_name is not None,
        raw,
    )


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


_SCANNER_KEYS = frozenset((*_text_limits(DEFAULT_HARDWARE_CLASS_ATTRIBUTE), *_INT_KEYS)) - {
    DEFAULT_HARDWARE_CLASS_ATTRIBUTE
}
_span_scan = _load_scanner()
