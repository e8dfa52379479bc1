"""inferwatch.v1.ReferenceService: set and list drift references, the same as `inferwatch reference ...`."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import grpc
from sqlalchemy.engine import Engine

from collector.core.registration import ServiceRegistration
from detectors.drift.store import DEFAULT_REFERENCE, ReferenceInfo, fit_from_range, list_references, save_reference
from inferwatch.v1 import common_pb2, finding_service_pb2, finding_service_pb2_grpc


def reference_to_proto(info: ReferenceInfo) -> finding_service_pb2.Reference:
    """A stored reference as its wire message."""
    message = finding_service_pb2.Reference(
        model=common_pb2.ModelRef(name=info.model_name, version=info.model_version),
        name=info.name,
        source=info.source,
        row_count=info.row_count,
        features=list(info.features),
    )
    if info.range_start is not None:
        message.range.start.FromDatetime(info.range_start)
    if info.range_end is not None:
        message.range.end.FromDatetime(info.range_end)
    message.created_at.FromDatetime(info.created_at)
    return message


class ReferenceServicer(finding_service_pb2_grpc.ReferenceServiceServicer):
    """Fits references from recorded predictions; the database work runs off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def SetReference(
        self, request: finding_service_pb2.SetReferenceRequest, context: Any
    ) -> finding_service_pb2.Reference:
        if not request.model.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "model.name is required")
        if not (request.range.HasField("start") and request.range.HasField("end")):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "range.start and range.end are required")
        start, end = request.range.start.ToDatetime(tzinfo=UTC), request.range.end.ToDatetime(tzinfo=UTC)
        if end <= start:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"range.end ({end.isoformat()}) must be after range.start"
            )
        model, version = request.model.name, request.model.version
        try:
            fitted = await asyncio.to_thread(fit_from_range, self._engine, model, version, start=start, end=end)
        except ValueError as error:
            # No predictions in the range is a precondition the caller can fix, not a malformed request.
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
            raise AssertionError("unreachable: abort raises") from None  # pragma: no cover
        info = await asyncio.to_thread(
            save_reference,
            self._engine,
            model,
            version,
            fitted,
            name=request.name or DEFAULT_REFERENCE,
            range_start=start,
            range_end=end,
        )
        return reference_to_proto(info)

    async def ListReferences(
        self, request: finding_service_pb2.ListReferencesRequest, context: Any
    ) -> finding_service_pb2.ListReferencesResponse:
        found = await asyncio.to_thread(
            list_references, self._engine, request.model.name or None, request.model.version or None
        )
        return finding_service_pb2.ListReferencesResponse(references=[reference_to_proto(info) for info in found])


def registration(engine: Engine) -> ServiceRegistration:
    """Mount the servicer."""
    servicer = ReferenceServicer(engine)
    return ServiceRegistration(
        "inferwatch.v1.ReferenceService",
        lambda server: finding_service_pb2_grpc.add_ReferenceServiceServicer_to_server(servicer, server),  # type: ignore[no-untyped-call]
    )
