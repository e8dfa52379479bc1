"""The OTLP/HTTP receiver: ``POST /v1/traces``, ``/v1/logs`` and ``/v1/metrics`` on its own port (4318).

Both encodings the specification defines share the paths: ``application/x-protobuf`` and ``application/json``
(OTLP JSON: hex trace and span ids, integer enums, lowerCamelCase keys, unknown fields ignored). The answer
uses the request's encoding. Requests go through the same ``IngestPipeline`` as gRPC, so validation,
the spool, idempotence and counters are one code path. Answers follow the specification
(opentelemetry-proto ``docs/specification.md``): 200 with ``partial_success``; 400 with a ``google.rpc.Status``
body for an unusable request (clients do not retry it); 413 past the size limit, measured after
decompression; 415 for other content types; 503 with ``Retry-After`` while the spool is full (clients
retry); 401 and 403 for tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.core.config import AuthConfig
from collector.ingest.servicers import Handler, IngestPipeline, InvalidRequest, RetryLater, without_wire
from collector.service.auth import Role, http_refusal
from collector.service.http_server import AiohttpService
from collector.service.otlp_json import OtlpJsonError, parse

logger = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpHttpReceiver(AiohttpService):
    """The aiohttp server for OTLP over HTTP, as an async context manager."""

    what = "OTLP/HTTP"

    def __init__(self, addr: str, *, pipeline: IngestPipeline, max_body_bytes: int, auth: AuthConfig) -> None:
        super().__init__(addr)
        self._pipeline = pipeline
        self._max_body_bytes = max_body_bytes
        self._auth = auth

    def build_app(self) -> web.Application:
        """The three routes; aiohttp undoes ``Content-Encoding: gzip`` and counts the limit after it."""
        app = web.Application(client_max_size=self._max_body_bytes)
        routes: dict[str, tuple[str, type[Message], Handler]] = {
            "/v1/traces": ("spans", trace_service_pb2.ExportTraceServiceRequest, self._pipeline.traces),
            "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest, without_wire(self._pipeline.logs)),
            "/v1/metrics": (
                "metrics",
                metrics_service_pb2.ExportMetricsServiceRequest,
                without_wire(self._pipeline.metrics),
            ),
        }
        for path, (signal, message_type, handle) in routes.items():
            app.router.add_post(path, self._handler(signal, message_type, handle))
        return app

    def _handler(
        self, signal: str, message_type: type[Message], handle: Handler
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def answer(request: web.Request) -> web.Response:
            encoding = _encoding(request.content_type)
            if encoding is None:
                return _status(
                    415,
                    code_pb2.INVALID_ARGUMENT,
                    f"unsupported content type {request.content_type!r}: send {PROTOBUF} or {JSON}",
                    PROTOBUF,
                )
            refused = self._refusal(request, encoding)
            if refused is not None:
                return refused
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                self._pipeline.refused(signal)
                return _status(
                    413,
                    code_pb2.RESOURCE_EXHAUSTED,
                    f"the request body is over {self._max_body_bytes} bytes (after decompression); "
                    "send smaller batches",
                    encoding,
                )
            try:
                parsed = _parse(message_type, body, encoding)
                response = await handle(parsed, body if encoding == PROTOBUF else None)
            except InvalidRequest as error:
                self._pipeline.refused(signal)
                return _status(400, code_pb2.INVALID_ARGUMENT, str(error), encoding)
            except RetryLater as error:
                return _status(
                    503,
                    code_pb2.UNAVAILABLE,
                    str(error),
                    encoding,
                    headers={"Retry-After": str(max(1, round(error.retry_after_s)))},
                )
            return _message(200, response, encoding)

        return answer

    def _refusal(self, request: web.Request, encoding: str) -> web.Response | None:
        refused = http_refusal(request.headers.get("Authorization"), self._auth, Role.INGEST)
        if refused is None:
            return None
        code = code_pb2.UNAUTHENTICATED if refused.status == 401 else code_pb2.PERMISSION_DENIED
        return _status(refused.status, code, refused.message, encoding, headers=refused.headers)


def _encoding(content_type: str) -> str | None:
    """The OTLP encoding a content type names, or None."""
    if content_type == PROTOBUF:
        return PROTOBUF
    if content_type == JSON:
        return JSON
    return None


def _parse(message_type: type[Message], body: bytes, encoding: str) -> Message:
    """The request message from its body; InvalidRequest naming what is wrong."""
    if encoding == PROTOBUF:
        try:
            return message_type.FromString(body)
        except DecodeError as error:
            raise InvalidRequest(f"malformed {message_type.DESCRIPTOR.name}: {error}") from None
    if not body.strip():
        return message_type()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidRequest(
            f"the body must be a JSON object ({message_type.DESCRIPTOR.name}), not {type(document).__name__}"
        )
    try:
        return parse(document, message_type())
    except OtlpJsonError as error:
        raise InvalidRequest(f"not an OTLP JSON {message_type.DESCRIPTOR.name}: {error}") from None


def _message(status: int, message: Message, encoding: str, headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps(json_format.MessageToDict(message)) if encoding == JSON else message.SerializeToString()
    return web.Response(status=status, body=body, content_type=encoding, headers=headers)


def _status(status: int, code: int, message: str, encoding: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error answer: a ``google.rpc.Status`` in the request's encoding."""
    return _message(status, status_pb2.Status(code=code, message=message), encoding, headers)
