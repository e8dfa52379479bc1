"""The gRPC side of the service: one port for OTLP and inferwatch.v1, plus standard health and reflection."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from collector.core.errors import InferwatchError
from collector.core.metrics import ServiceMetrics
from collector.core.registration import ServiceRegistration

logger = logging.getLogger(__name__)

HEALTH_SERVICE = "grpc.health.v1.Health"
_REFLECTION_SERVICES = ("grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")


# The method label of calls to anything the server does not serve: a caller choosing the label would grow
# /metrics without bound (20,000 random method names made it 44 MB).
UNKNOWN_METHOD = "other"


def method_names(services: Sequence[str]) -> frozenset[str]:
    """``/package.Service/Method`` for every method of the named services, from the protobuf descriptors."""
    pool = descriptor_pool.Default()
    names: set[str] = set()
    for service in services:
        try:
            descriptor = pool.FindServiceByName(service)
        except KeyError:
            continue
        names.update(f"/{service}/{method.name}" for method in descriptor.methods)
    return frozenset(names)


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type information
    """Counts unary calls by method and status code and times them; streaming calls pass through.

    Only methods in ``known_methods`` get their own label; every other name shares ``UNKNOWN_METHOD``.
    """

    def __init__(self, metrics: ServiceMetrics, known_methods: frozenset[str]) -> None:
        self._metrics = metrics
        self._known_methods = known_methods

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or not inspect.iscoroutinefunction(handler.unary_unary):
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method
        if method not in self._known_methods:
            method = UNKNOWN_METHOD
        metrics = self._metrics

        async def timed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                metrics.grpc_handled.labels(method=method, code=_code_name(code)).inc()
                metrics.grpc_latency.labels(method=method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_name(code: grpc.StatusCode | int) -> str:
    """grpc.aio reports codes as StatusCode or, after abort, sometimes as the bare integer."""
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    for candidate in grpc.StatusCode:
        if candidate.value[0] == code:
            return str(candidate.name)
    return str(code)


class GrpcServer:
    """An asyncio gRPC server as an async context manager: bound and serving inside, drained on exit."""

    def __init__(
        self,
        addr: str,
        *,
        services: Sequence[ServiceRegistration],
        metrics: ServiceMetrics,
        max_message_bytes: int,
        shutdown_grace_s: float,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self._addr = addr
        self._services = tuple(services)
        self._metrics = metrics
        self._max_message_bytes = max_message_bytes
        self._grace_s = shutdown_grace_s
        known = method_names([service.name for service in self._services] + [HEALTH_SERVICE, *_REFLECTION_SERVICES])
        self._interceptors = (MetricsInterceptor(metrics, known), *interceptors)
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()
        self.port = 0

    async def __aenter__(self) -> GrpcServer:
        server = grpc.aio.server(
            interceptors=self._interceptors,
            options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.max_send_message_length", self._max_message_bytes),
                # Two replicas on one port would split traffic unpredictably; fail loudly instead.
                ("grpc.so_reuseport", 0),
            ],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for service in self._services:
            service.add_to_server(server)
        names = [service.name for service in self._services]
        reflection.enable_server_reflection([*names, HEALTH_SERVICE, reflection.SERVICE_NAME], server)
        try:
            self.port = server.add_insecure_port(self._addr)
        except RuntimeError as error:
            raise InferwatchError(f"cannot listen for gRPC on {self._addr}: {error} (is the port in use?)") from None
        if self.port == 0:
            raise InferwatchError(f"cannot listen for gRPC on {self._addr} (is the port in use?)")
        await server.start()
        self._server = server
        for name in ("", *names):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is None:
            return
        # Load balancers see NOT_SERVING first and move traffic away while in-flight calls finish.
        await self._health.enter_graceful_shutdown()
        await self._server.stop(self._grace_s)
        self._server = None
