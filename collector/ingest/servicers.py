"""Ingest: one pipeline for every transport, and its gRPC servicers (OTLP traces, logs and metrics, and
inferwatch.v1.PredictionService).

``IngestPipeline`` decodes a whole parsed request in one step on the event loop (no thread hop per item),
validates item by item, appends what is usable to the durable spool, counts, and builds the answer; the
OTLP/HTTP receiver (``collector.service.otlp_http``) calls the same methods. A request with outcomes is the
one that may leave the loop, after its outcomes are spooled: their prediction ids are looked up in one query
(``collector.ingest.outcome_ids``) so the answer can warn about unknown ones. The gRPC handlers take raw
bytes rather than letting grpc deserialize, so a malformed message is INVALID_ARGUMENT with a reason instead
of grpc's bare INTERNAL "Exception deserializing request!".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.core.domain import ItemRejection, OutcomeRecord, PredictionRecord
from collector.core.errors import InferwatchError
from collector.core.feature_schema import NumericFeatures
from collector.core.metrics import ServiceMetrics
from collector.core.registration import ServiceRegistration
from collector.core.rpc_errors import abort_retry_later
from collector.ingest.cardinality import CardinalityLimiter
from collector.ingest.native_decode import decode_log_outcomes, decode_log_predictions
from collector.ingest.otlp_logs import decode_export_logs_request
from collector.ingest.otlp_traces import SpanDecodeOptions, decode_export_trace_request
from collector.ingest.outcome_ids import PredictionIdCheck, unchecked_message, unknown_message
from collector.ingest.pacing import IngestPacer
from collector.ingest.prediction_records import ItemWarning
from collector.ingest.row_inserts import Kind
from collector.ingest.spool import Spool, SpoolFull
from collector.ingest.writer import encode_batch
from inferwatch.v1 import common_pb2, prediction_service_pb2

logger = logging.getLogger(__name__)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
PREDICTION_SERVICE = "inferwatch.v1.PredictionService"
# partial_success messages list the first few reasons; the count says how many there were.
MAX_REASONS = 5

# grpc ships no type information; this alias documents what handlers receive.
Context = Any


@dataclass(frozen=True)
class IngestOptions:
    """How the ingest servicers decode and when they ask clients to come back."""

    spans: SpanDecodeOptions = field(default_factory=SpanDecodeOptions)
    retry_after_s: float = 1.0
    # Makes answers wait while the writer drains a backlog; None never waits.
    pacer: IngestPacer | None = None
    # Labels past the cardinality limits become "other"; None keeps every label.
    limiter: CardinalityLimiter | None = None
    # Numeric features per model from the drift references, refreshed in the background; None checks nothing.
    numeric_features: NumericFeatures | None = None
    # Looks up outcomes' prediction ids for the warnings in the answer; None checks nothing.
    prediction_ids: PredictionIdCheck | None = None


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


def item_warnings(warnings: Sequence[ItemWarning]) -> list[common_pb2.ItemWarning]:
    """Per-item warnings of the native API."""
    return [common_pb2.ItemWarning(index=w.index, field=w.field, message=w.message) for w in warnings]


def summarize_warnings(warnings: Sequence[ItemWarning]) -> str:
    """``"warnings: item 0: features.amount: ..."`` with at most MAX_REASONS of them, for OTLP partial_success."""
    if not warnings:
        return ""
    reasons = "; ".join(warning.describe() for warning in warnings[:MAX_REASONS])
    more = f"; and {len(warnings) - MAX_REASONS} more" if len(warnings) > MAX_REASONS else ""
    return f"{len(warnings)} warning(s), items stored: {reasons}{more}"


class InvalidRequest(InferwatchError):
    """Nothing in the request is usable: gRPC INVALID_ARGUMENT, HTTP 400. Clients must not retry it."""


class RetryLater(InferwatchError):
    """The spool is full: gRPC UNAVAILABLE with RetryInfo, HTTP 503 with Retry-After."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IngestPipeline:
    """Validate, spool, count and answer parsed requests, whatever transport brought them (gRPC or HTTP).

    Each method takes a parsed request and returns the response message, or raises ``InvalidRequest`` or
    ``RetryLater``; the transports only parse bytes and map those two errors to their own answers.
    """

    def __init__(self, spool: Spool, metrics: ServiceMetrics, options: IngestOptions) -> None:
        self._spool = spool
        self._metrics = metrics
        self._options = options

    async def traces(
        self, request: trace_service_pb2.ExportTraceServiceRequest, wire: bytes | None = None
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """OTLP traces: inference spans are stored, others counted.

        ``wire``: the protobuf bytes ``request`` was parsed from, when the transport had them; the native
        scanner reads spans from those (serializing a request that came as JSON costs far less than decoding
        its spans in Python)."""
        if wire is None:
            wire = request.SerializeToString()
        decoded = decode_export_trace_request(request, self._options.spans, wire)
        if self._options.limiter is not None:
            decoded.records = self._options.limiter.limit(decoded.records)
        skipped = 0 if self._options.spans.keep_non_inference_spans else decoded.non_inference
        await self._store("spans", records=decoded.records, rejections=decoded.rejections, total=decoded.total)
        self._count("spans", len(decoded.records), len(decoded.rejections), skipped)
        if decoded.clamped:
            self._metrics.values_clamped.labels(signal="spans").inc(decoded.clamped)
        if decoded.raw_dropped:
            self._metrics.raw_spans_dropped.inc(decoded.raw_dropped)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if decoded.rejections:
            response.partial_success.rejected_spans = len(decoded.rejections)
            response.partial_success.error_message = summarize(decoded.rejections, "spans")
        return response

    async def logs(
        self, request: logs_service_pb2.ExportLogsServiceRequest
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        """OTLP logs: prediction and outcome events are stored, other logs counted."""
        decoded = decode_export_logs_request(request, time.time_ns(), self._options.numeric_features)
        usable = len(decoded.predictions) + len(decoded.outcomes) + decoded.other_logs
        if decoded.rejections and usable == 0:
            raise InvalidRequest(summarize(decoded.rejections, "log records"))
        await self._append("logs", [("predictions", decoded.predictions), ("outcomes", decoded.outcomes)])
        self._remember(decoded.predictions)
        self._count("predictions", len(decoded.predictions), 0, 0)
        self._count("outcomes", len(decoded.outcomes), 0, 0)
        self._count("logs", 0, len(decoded.rejections), decoded.other_logs)
        self._metrics.non_finite_values.inc(decoded.non_finite_values)
        if decoded.warnings:
            self._metrics.text_in_numeric_features.inc(len(decoded.warnings))
        same_request = {prediction.prediction_id for prediction in decoded.predictions}
        about_outcomes = await self._outcome_warnings(decoded.outcome_indexes, decoded.outcomes, same_request)
        warnings = sorted(decoded.warnings + about_outcomes, key=lambda warning: warning.index)
        response = logs_service_pb2.ExportLogsServiceResponse()
        if decoded.rejections:
            response.partial_success.rejected_log_records = len(decoded.rejections)
            response.partial_success.error_message = summarize(decoded.rejections, "log records")
        if warnings:
            # OTLP: rejected 0 with a message is how a server warns about a request it fully accepted.
            said = summarize_warnings(warnings)
            message = response.partial_success.error_message
            response.partial_success.error_message = f"{message}; {said}" if message else said
        return response

    async def metrics(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        """OTLP metrics: accepted and counted by data point, not stored (spans carry what detectors read)."""
        points = 0
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is not None:
                        points += len(getattr(metric, kind).data_points)
        self._count("metrics", 0, 0, points)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    async def predictions(
        self, request: prediction_service_pb2.LogPredictionsRequest
    ) -> prediction_service_pb2.LogPredictionsResponse:
        """inferwatch.v1 LogPredictions."""
        decoded = decode_log_predictions(request, time.time_ns(), self._options.numeric_features)
        await self._store(
            "predictions", records=decoded.records, rejections=decoded.rejections, total=len(request.predictions)
        )
        self._remember(decoded.records)
        self._count("predictions", len(decoded.records), len(decoded.rejections), 0)
        self._metrics.non_finite_values.inc(decoded.non_finite_values)
        if decoded.warnings:
            self._metrics.text_in_numeric_features.inc(len(decoded.warnings))
        return prediction_service_pb2.LogPredictionsResponse(
            accepted=len(decoded.records),
            rejected=len(decoded.rejections),
            errors=item_errors(decoded.rejections),
            non_finite_values=decoded.non_finite_values,
            warnings=item_warnings(decoded.warnings),
        )

    async def outcomes(
        self, request: prediction_service_pb2.LogOutcomesRequest
    ) -> prediction_service_pb2.LogOutcomesResponse:
        """inferwatch.v1 LogOutcomes."""
        decoded = decode_log_outcomes(request, time.time_ns())
        await self._store(
            "outcomes", records=decoded.records, rejections=decoded.rejections, total=len(request.outcomes)
        )
        self._count("outcomes", len(decoded.records), len(decoded.rejections), 0)
        warnings = await self._outcome_warnings(decoded.indexes, decoded.records)
        return prediction_service_pb2.LogOutcomesResponse(
            accepted=len(decoded.records),
            rejected=len(decoded.rejections),
            errors=item_errors(decoded.rejections),
            warnings=item_warnings(warnings),
        )

    def refused(self, signal: str) -> None:
        """Count a request refused before it reached the pipeline (malformed, too large)."""
        self._metrics.ingest_items.labels(signal=signal, result="refused_requests").inc()

    def _remember(self, predictions: Sequence[PredictionRecord]) -> None:
        """Prediction ids just spooled: outcomes for them are not warned about before the writer stores them."""
        if self._options.prediction_ids is not None and predictions:
            self._options.prediction_ids.remember(prediction.prediction_id for prediction in predictions)

    async def _outcome_warnings(
        self, indexes: Sequence[int], outcomes: Sequence[OutcomeRecord], same_request: Collection[str] = ()
    ) -> list[ItemWarning]:
        """A warning for each spooled outcome whose prediction id is known nowhere, or could not be checked."""
        check = self._options.prediction_ids
        if check is None or not outcomes:
            return []
        ids = [outcome.prediction_id for outcome in outcomes]
        found = await check.check(list(zip(indexes, ids, strict=True)), same_request)
        if found.unknown:
            self._metrics.outcomes_unknown_prediction.inc(len(found.unknown))
        if found.unchecked:
            self._metrics.outcome_ids_unchecked.inc(len(found.unchecked))
        by_index = dict(zip(indexes, ids, strict=True))
        warnings = [ItemWarning(index, "prediction_id", unknown_message(by_index[index])) for index in found.unknown]
        unchecked = unchecked_message(found.reason)
        warnings += [ItemWarning(index, "prediction_id", unchecked) for index in found.unchecked]
        return sorted(warnings, key=lambda warning: warning.index)

    async def _store(
        self,
        kind: Kind,
        *,
        records: Sequence[tuple[object, ...]],
        rejections: Sequence[ItemRejection],
        total: int,
    ) -> None:
        """Refuse a request where every item is bad; otherwise spool the good ones."""
        if rejections and len(rejections) == total:
            raise InvalidRequest(summarize(rejections, kind))
        await self._append(kind, [(kind, records)])

    async def _append(self, signal: str, batches: Sequence[tuple[Kind, Sequence[tuple[object, ...]]]]) -> None:
        """Spool the batches, then wait as the pacer says (``collector.ingest.pacing``)."""
        payloads = [encode_batch(kind, records) for kind, records in batches if records]  # type: ignore[arg-type]
        try:
            for payload in payloads:
                self._spool.append(payload)
        except SpoolFull as error:
            self._metrics.ingest_refusals.labels(signal=signal).inc()
            raise RetryLater(f"{error}; retry later", self._options.retry_after_s) from None
        delay = self._options.pacer.delay_s() if self._options.pacer is not None and payloads else 0.0
        if delay > 0:
            self._metrics.ingest_paced_seconds.labels(signal=signal).inc(delay)
            await asyncio.sleep(delay)

    def _count(self, signal: str, accepted: int, rejected: int, skipped: int) -> None:
        for result, count in (("accepted", accepted), ("rejected", rejected), ("skipped", skipped)):
            if count:
                self._metrics.ingest_items.labels(signal=signal, result=result).inc(count)


# A pipeline method as the transports call it: the parsed request and, when they have them, its protobuf bytes.
Handler = Callable[[Any, bytes | None], Awaitable[Message]]


def without_wire(handle: Callable[[Any], Awaitable[Message]]) -> Handler:
    """A pipeline method that has no use for the request's bytes, as a Handler."""

    async def call(request: Any, wire: bytes | None) -> Message:
        return await handle(request)

    return call


class IngestServicers:
    """The gRPC side of ingest: raw-bytes handlers that parse, run the pipeline and map its errors."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        self._pipeline = pipeline

    def registrations(self) -> list[ServiceRegistration]:
        """The four services, with raw-bytes handlers."""
        pipeline = self._pipeline
        return [
            self._registration(
                TRACE_SERVICE, {"Export": (trace_service_pb2.ExportTraceServiceRequest, pipeline.traces)}
            ),
            self._registration(
                LOGS_SERVICE, {"Export": (logs_service_pb2.ExportLogsServiceRequest, without_wire(pipeline.logs))}
            ),
            self._registration(
                METRICS_SERVICE,
                {"Export": (metrics_service_pb2.ExportMetricsServiceRequest, without_wire(pipeline.metrics))},
            ),
            self._registration(
                PREDICTION_SERVICE,
                {
                    "LogPredictions": (
                        prediction_service_pb2.LogPredictionsRequest,
                        without_wire(pipeline.predictions),
                    ),
                    "LogOutcomes": (prediction_service_pb2.LogOutcomesRequest, without_wire(pipeline.outcomes)),
                },
            ),
        ]

    def _registration(self, service: str, methods: dict[str, tuple[type[Message], Handler]]) -> ServiceRegistration:
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(self._handler(message_type, handle))
            for name, (message_type, handle) in methods.items()
        }
        generic = grpc.method_handlers_generic_handler(service, handlers)
        return ServiceRegistration(service, lambda server: server.add_generic_rpc_handlers((generic,)))

    @staticmethod
    def _handler(message_type: type[Message], handle: Handler) -> Callable[[bytes, Context], Awaitable[bytes]]:
        async def answer(raw: bytes, context: Context) -> bytes:
            request = await _parse(message_type, raw, context)
            try:
                return (await handle(request, raw)).SerializeToString()
            except InvalidRequest as error:
                await _invalid(context, str(error))
            except RetryLater as error:
                await abort_retry_later(context, str(error), error.retry_after_s)

        return answer


async def _parse(message_type: type[Message], raw: bytes, context: Context) -> Message:
    try:
        return message_type.FromString(raw)
    except DecodeError as error:
        await _invalid(context, f"malformed {message_type.DESCRIPTOR.name}: {error}")


async def _invalid(context: Context, message: str) -> NoReturn:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover
