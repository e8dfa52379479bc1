"""inferwatch.v1.FindingService: findings over gRPC, the same as `inferwatch findings list`."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import grpc
from google.protobuf import struct_pb2
from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from collector.core.findings import FindingFilter, get_finding, list_findings
from collector.core.registration import ServiceRegistration
from inferwatch.v1 import common_pb2, finding_service_pb2, finding_service_pb2_grpc

MAX_PAGE = 1000
DEFAULT_PAGE = 100
_SEVERITY = {
    "info": common_pb2.SEVERITY_INFO,
    "warning": common_pb2.SEVERITY_WARNING,
    "critical": common_pb2.SEVERITY_CRITICAL,
}


def finding_to_proto(finding: Finding) -> finding_service_pb2.Finding:
    """A domain finding as its wire message."""
    message = finding_service_pb2.Finding(
        id=finding.id or 0,
        model=common_pb2.ModelRef(name=finding.model_name, version=finding.model_version),
        detector=finding.detector,
        subject=finding.subject,
        severity=_SEVERITY.get(finding.severity, common_pb2.SEVERITY_UNSPECIFIED),
        firing=finding.firing,
        summary=finding.summary,
    )
    for field in ("value", "expected", "band_low", "band_high"):
        value = getattr(finding, field)
        if value is not None:
            setattr(message, field, value)
    message.window_start.FromDatetime(finding.window_start)
    message.window_end.FromDatetime(finding.window_end)
    if finding.since is not None:
        message.since.FromDatetime(finding.since)
    if finding.created_at is not None:
        message.created_at.FromDatetime(finding.created_at)
    details = struct_pb2.Struct()
    details.update(_jsonable(dict(finding.details)))
    message.details.CopyFrom(details)
    return message


def _jsonable(value: Any) -> Any:
    """Struct holds only JSON values; tuples become lists."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class FindingServicer(finding_service_pb2_grpc.FindingServiceServicer):
    """Reads findings; the database work runs off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def ListFindings(
        self, request: finding_service_pb2.ListFindingsRequest, context: Any
    ) -> finding_service_pb2.ListFindingsResponse:
        size = request.page_size or DEFAULT_PAGE
        if size > MAX_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be <= {MAX_PAGE}, got {size}")
        try:
            offset = int(request.page_token or "0")
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_token {request.page_token!r} is not valid")
        where = FindingFilter(
            model_name=request.model.name or None,
            model_version=request.model.version or None,
            detector=request.detector or None,
            since=request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None,
            firing_only=request.firing_only,
            limit=size + 1,
            offset=offset,
        )
        findings = await asyncio.to_thread(list_findings, self._engine, where)
        more = len(findings) > size
        return finding_service_pb2.ListFindingsResponse(
            findings=[finding_to_proto(f) for f in findings[:size]],
            next_page_token=str(offset + size) if more else "",
        )

    async def GetFinding(
        self, request: finding_service_pb2.GetFindingRequest, context: Any
    ) -> finding_service_pb2.Finding:
        finding = await asyncio.to_thread(get_finding, self._engine, request.id)
        if finding is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no finding with id {request.id}")
            raise AssertionError("unreachable: abort raises")  # pragma: no cover
        return finding_to_proto(finding)


def registration(engine: Engine) -> ServiceRegistration:
    """Mount the servicer."""
    servicer = FindingServicer(engine)
    return ServiceRegistration(
        "inferwatch.v1.FindingService",
        lambda server: finding_service_pb2_grpc.add_FindingServiceServicer_to_server(servicer, server),  # type: ignore[no-untyped-call]
    )
