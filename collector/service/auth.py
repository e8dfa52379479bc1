"""Bearer-token authentication for gRPC, with separate ingest and admin tokens.

Roles: ingest methods (OTLP export, PredictionService) take an ingest or an admin token; read methods
(``Get*``/``List*`` of inferwatch.v1) take either; every other inferwatch.v1 method takes an admin token.
Health and reflection stay open, so load balancers and grpcurl work without secrets. A missing or unknown
token is UNAUTHENTICATED; a valid ingest token on an admin method is PERMISSION_DENIED.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc

from collector.core.config import AuthConfig

INGEST_SERVICES = (
    "/opentelemetry.proto.collector.trace.v1.TraceService/",
    "/opentelemetry.proto.collector.logs.v1.LogsService/",
    "/inferwatch.v1.PredictionService/",
)
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class Role(enum.IntEnum):
    """What a caller may do; higher includes lower."""

    NONE = 0
    INGEST = 1
    ADMIN = 2


def required_role(method: str) -> Role:
    """The least role that may call ``method`` (``/package.Service/Method``)."""
    if method.startswith(OPEN_PREFIXES):
        return Role.NONE
    if method.startswith(INGEST_SERVICES):
        return Role.INGEST
    name = method.rsplit("/", 1)[-1]
    if name.startswith(("Get", "List")):
        return Role.INGEST
    return Role.ADMIN


def _matches(token: str, candidates: Sequence[str]) -> bool:
    # Compare against every candidate so timing does not reveal which one (or whether any) matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(token.encode(), candidate.encode())
    return matched


def caller_role(authorization: str | None, config: AuthConfig) -> Role | None:
    """The role an ``authorization`` header grants, or None when it is missing or wrong."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token = token.strip()
    if _matches(token, config.admin_tokens):
        return Role.ADMIN
    if _matches(token, config.ingest_tokens):
        return Role.INGEST
    return None


@dataclass(frozen=True)
class HttpRefusal:
    """Why an HTTP request is refused: its status, a message, and the headers to send with it."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def http_refusal(authorization: str | None, config: AuthConfig | None, needed: Role) -> HttpRefusal | None:
    """401 or 403 for an HTTP request whose ``Authorization`` header does not grant ``needed``; None when it
    does, or when no tokens are configured (``config`` None or without tokens)."""
    if config is None or not config.enabled:
        return None
    role = caller_role(authorization, config)
    if role is None:
        return HttpRefusal(
            401,
            "missing or invalid bearer token in the Authorization header",
            {"WWW-Authenticate": 'Bearer realm="inferwatch"'},
        )
    if role < needed:
        return HttpRefusal(403, "this needs an admin token, not an ingest token")
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type information
    """Checks the bearer token before the handler runs; installed only when tokens are configured."""

    def __init__(self, config: AuthConfig) -> None:
        self._config = config

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        needed = required_role(handler_call_details.method)
        if needed is Role.NONE:
            return await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = metadata.get("authorization")
        role = caller_role(header if isinstance(header, str) else None, self._config)
        if role is None:
            return _refusal(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token in `authorization`")
        if role < needed:
            return _refusal(grpc.StatusCode.PERMISSION_DENIED, "this method needs an admin token, not an ingest token")
        return await continuation(handler_call_details)


def _refusal(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    async def refuse(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        await context.abort(code, message)
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    return grpc.unary_unary_rpc_method_handler(refuse)
