"""The ingest servicers: OTLP TraceService and LogsService, and inferwatch.v1.PredictionService.

Each call decodes its whole request in one step on the event loop (no thread hop per item), validates item
by item, appends what is usable to the durable spool, and answers. Handlers take raw bytes rather than
letting grpc deserialize, so a malformed message is INVALID_ARGUMENT with a reason instead of grpc's bare
INTERNAL "Exception deserializing request!".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.core.domain import ItemRejection
from collector.core.metrics import ServiceMetrics
from collector.core.registration import ServiceRegistration
from collector.core.rpc_errors import abort_retry_later
from collector.ingest.cardinality import CardinalityLimiter
from collector.ingest.native_decode import decode_log_outcomes, decode_log_predictions
from collector.ingest.otlp_logs import decode_export_logs_request
from collector.ingest.otlp_traces import SpanDecodeOptions, decode_export_trace_request
from collector.ingest.spool import Spool, SpoolFull
from collector.ingest.writer import Kind, encode_batch
from inferwatch.v1 import common_pb2, prediction_service_pb2

logger = logging.getLogger(__name__)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
PREDICTION_SERVICE = "inferwatch.v1.PredictionService"
# partial_success messages list the first few reasons; the count says how many there were.
MAX_REASONS = 5

# grpc ships no type information; this alias documents what handlers receive.
Context = Any
RequestT = TypeVar("RequestT", bound=Message)


@dataclass(frozen=True)
class IngestOptions:
    """How the ingest servicers decode and when they ask clients to come back."""

    spans: SpanDecodeOptions = field(default_factory=SpanDecodeOptions)
    retry_after_s: float = 1.0
    # Labels past the cardinality limits become "other"; None keeps every label.
    limiter: CardinalityLimiter | None = None


def summarize(rejections: Sequence[ItemRejection], noun: str) -> str:
    """``"2 spans rejected: item 0: trace_id: ...; item 3: ..."`` with at most MAX_REASONS reasons."""
    if not rejections:
        return ""
    reasons = "; ".join(rejection.describe() for rejection in rejections[:MAX_REASONS])
    more = f"; and {len(rejections) - MAX_REASONS} more" if len(rejections) > MAX_REASONS else ""
    return f"{len(rejections)} {noun} rejected: {reasons}{more}"


def item_errors(rejections: Sequence[ItemRejection]) -> list[common_pb2.ItemError]:
    """Per-item errors of the native API."""
    return [common_pb2.ItemError(index=r.index, field=r.field, message=r.message) for r in rejections]


class IngestServicers:
    """Decode, validate, spool, answer; shared by the three ingest services."""

    def __init__(self, spool: Spool, metrics: ServiceMetrics, options: IngestOptions) -> None:
        self._spool = spool
        self._metrics = metrics
        self._options = options

    def registrations(self) -> list[ServiceRegistration]:
        """The three services, with raw-bytes handlers."""
        return [
            _registration(TRACE_SERVICE, {"Export": self.export_traces}),
            _registration(LOGS_SERVICE, {"Export": self.export_logs}),
            _registration(
                PREDICTION_SERVICE, {"LogPredictions": self.log_predictions, "LogOutcomes": self.log_outcomes}
            ),
        ]

    async def export_traces(self, raw: bytes, context: Context) -> bytes:
        """OTLP TraceService/Export."""
        request = await _parse(trace_service_pb2.ExportTraceServiceRequest, raw, context)
        decoded = decode_export_trace_request(request, self._options.spans)
        if self._options.limiter is not None:
            decoded.records = self._options.limiter.limit(decoded.records)
        skipped = 0 if self._options.spans.keep_non_inference_spans else decoded.non_inference
        await self._store(context, "spans", records=decoded.records, rejections=decoded.rejections, total=decoded.total)
        self._count("spans", len(decoded.records), len(decoded.rejections), skipped)
        if decoded.clamped:
            self._metrics.values_clamped.labels(signal="spans").inc(decoded.clamped)
        if decoded.raw_dropped:
            self._metrics.raw_spans_dropped.inc(decoded.raw_dropped)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if decoded.rejections:
            response.partial_success.rejected_spans = len(decoded.rejections)
            response.partial_success.error_message = summarize(decoded.rejections, "spans")
        return response.SerializeToString()

    async def export_logs(self, raw: bytes, context: Context) -> bytes:
        """OTLP LogsService/Export: prediction and outcome events are stored, other logs counted."""
        request = await _parse(logs_service_pb2.ExportLogsServiceRequest, raw, context)
        decoded = decode_export_logs_request(request, time.time_ns())
        usable = len(decoded.predictions) + len(decoded.outcomes) + decoded.other_logs
        if decoded.rejections and usable == 0:
            await _invalid(context, summarize(decoded.rejections, "log records"))
        await self._append(context, "logs", [("predictions", decoded.predictions), ("outcomes", decoded.outcomes)])
        self._count("predictions", len(decoded.predictions), 0, 0)
        self._count("outcomes", len(decoded.outcomes), 0, 0)
        self._count("logs", 0, len(decoded.rejections), decoded.other_logs)
        self._metrics.non_finite_values.inc(decoded.non_finite_values)
        response = logs_service_pb2.ExportLogsServiceResponse()
        if decoded.rejections:
            response.partial_success.rejected_log_records = len(decoded.rejections)
            response.partial_success.error_message = summarize(decoded.rejections, "log records")
        return response.SerializeToString()

    async def log_predictions(self, raw: bytes, context: Context) -> bytes:
        """inferwatch.v1.PredictionService/LogPredictions."""
        request = await _parse(prediction_service_pb2.LogPredictionsRequest, raw, context)
        decoded = decode_log_predictions(request, time.time_ns())
        await self._store(
            context,
            "predictions",
            records=decoded.records,
            rejections=decoded.rejections,
            total=len(request.predictions),
        )
        self._count("predictions", len(decoded.records), len(decoded.rejections), 0)
        self._metrics.non_finite_values.inc(decoded.non_finite_values)
        return prediction_service_pb2.LogPredictionsResponse(
            accepted=len(decoded.records),
            rejected=len(decoded.rejections),
            errors=item_errors(decoded.rejections),
            non_finite_values=decoded.non_finite_values,
        ).SerializeToString()

    async def log_outcomes(self, raw: bytes, context: Context) -> bytes:
        """inferwatch.v1.PredictionService/LogOutcomes."""
        request = await _parse(prediction_service_pb2.LogOutcomesRequest, raw, context)
        decoded = decode_log_outcomes(request, time.time_ns())
        await self._store(
            context, "outcomes", records=decoded.records, rejections=decoded.rejections, total=len(request.outcomes)
        )
        self._count("outcomes", len(decoded.records), len(decoded.rejections), 0)
        return prediction_service_pb2.LogOutcomesResponse(
            accepted=len(decoded.records),
            rejected=len(decoded.rejections),
            errors=item_errors(decoded.rejections),
        ).SerializeToString()

    async def _store(
        self,
        context: Context,
        kind: Kind,
        *,
        records: Sequence[tuple[object, ...]],
        rejections: Sequence[ItemRejection],
        total: int,
    ) -> None:
        """Refuse a request where every item is bad; otherwise spool the good ones."""
        if rejections and len(rejections) == total:
            await _invalid(context, summarize(rejections, kind))
        await self._append(context, kind, [(kind, records)])

    async def _append(
        self, context: Context, signal: str, batches: Sequence[tuple[Kind, Sequence[tuple[object, ...]]]]
    ) -> None:
        payloads = [encode_batch(kind, records) for kind, records in batches if records]  # type: ignore[arg-type]
        try:
            for payload in payloads:
                self._spool.append(payload)
        except SpoolFull as error:
            self._metrics.ingest_refusals.labels(signal=signal).inc()
            await abort_retry_later(context, f"{error}; retry later", self._options.retry_after_s)

    def _count(self, signal: str, accepted: int, rejected: int, skipped: int) -> None:
        for result, count in (("accepted", accepted), ("rejected", rejected), ("skipped", skipped)):
            if count:
                self._metrics.ingest_items.labels(signal=signal, result=result).inc(count)


async def _parse(message_type: type[RequestT], raw: bytes, context: Context) -> RequestT:
    try:
        return message_type.FromString(raw)
    except DecodeError as error:
        await _invalid(context, f"malformed {message_type.DESCRIPTOR.name}: {error}")


async def _invalid(context: Context, message: str) -> NoReturn:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


def _registration(
    service: str, methods: dict[str, Callable[[bytes, Context], Awaitable[bytes]]]
) -> ServiceRegistration:
    handlers = {name: grpc.unary_unary_rpc_method_handler(method) for name, method in methods.items()}
    generic = grpc.method_handlers_generic_handler(service, handlers)
    return ServiceRegistration(service, lambda server: server.add_generic_rpc_handlers((generic,)))
