"""inferwatch.v1.ModelService and ShadowService: the registry and shadow runs over gRPC.

A started run is stored as queued and claimed at once by the replica that accepted it, which runs it under a
lease (``shadow.execution``): its progress, per part, is written to the run row at most twice a second, so
GetShadowRun works from any replica. CancelShadowRun marks a queued or running run cancelled in the
database; the replica running it reads that with its next progress report and stops (on Ray, ending the
run's workers). A replica that stops hands its runs back to the queue, and one that dies lets their lease
expire: either way another replica (or the same one, started again) resumes them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload as _selectinload

from collector.core.registration import ServiceRegistration
from collector.core.storage.shadow_tables import ShadowRunRow
from inferwatch.v1 import (
    common_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    shadow_service_pb2,
    shadow_service_pb2_grpc,
)
from shadow.cluster_worker import pricing_mismatch
from shadow.errors import ArtifactNotFoundError, ShadowError
from shadow.execution import RunCoordinator
from shadow.plan import plan_run
from shadow.registry import (
    ModelVersion,
    VersionConflictError,
    latest_version,
    list_model_versions,
    register_model_version,
)
from shadow.settings import ShadowSettings

logger = logging.getLogger(__name__)

_TASKS = {
    model_service_pb2.TASK_CLASSIFICATION: "classification",
    model_service_pb2.TASK_REGRESSION: "regression",
    model_service_pb2.TASK_GENERATION: "generation",
    model_service_pb2.TASK_EMBEDDING: "embedding",
}
_TASK_ENUM = {name: number for number, name in _TASKS.items()}
_STATES = {
    "queued": shadow_service_pb2.SHADOW_RUN_STATE_QUEUED,
    "running": shadow_service_pb2.SHADOW_RUN_STATE_RUNNING,
    "succeeded": shadow_service_pb2.SHADOW_RUN_STATE_SUCCEEDED,
    "failed": shadow_service_pb2.SHADOW_RUN_STATE_FAILED,
    "cancelled": shadow_service_pb2.SHADOW_RUN_STATE_CANCELLED,
}
_PART_STATES = {
    "queued": shadow_service_pb2.SHADOW_RUN_PART_STATE_QUEUED,
    "running": shadow_service_pb2.SHADOW_RUN_PART_STATE_RUNNING,
    "done": shadow_service_pb2.SHADOW_RUN_PART_STATE_DONE,
    "failed": shadow_service_pb2.SHADOW_RUN_PART_STATE_FAILED,
    "retried": shadow_service_pb2.SHADOW_RUN_PART_STATE_RETRIED,
}


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> None:
    await context.abort(code, message)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


def _version_to_proto(version: ModelVersion) -> model_service_pb2.ModelVersion:
    message = model_service_pb2.ModelVersion(
        model=common_pb2.ModelRef(name=version.model_name, version=version.version),
        artifact=model_service_pb2.Artifact(
            format=model_service_pb2.ARTIFACT_FORMAT_ONNX, uri=version.artifact_uri, sha256=version.artifact_sha256
        ),
        hardware_class=version.hardware_class,
        task=_TASK_ENUM.get(version.task, model_service_pb2.TASK_UNSPECIFIED),
        class_labels=list(version.class_labels),
    )
    message.created_at.FromDatetime(version.created_at)
    return message


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """The registry over gRPC."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def RegisterModelVersion(
        self, request: model_service_pb2.RegisterModelVersionRequest, context: Any
    ) -> model_service_pb2.RegisterModelVersionResponse:
        if request.artifact.format not in (
            model_service_pb2.ARTIFACT_FORMAT_UNSPECIFIED,
            model_service_pb2.ARTIFACT_FORMAT_ONNX,
        ):
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "artifact.format: only ONNX is supported")
        try:
            version, created = await asyncio.to_thread(
                register_model_version,
                self._engine,
                model_name=request.model.name,
                version=request.model.version,
                artifact=Path(request.artifact.uri),
                hardware_class=request.hardware_class or "cpu",
                task=_TASKS.get(request.task, "unspecified"),
                class_labels=tuple(request.class_labels),
                replace=request.replace,
            )
        except VersionConflictError as error:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(error))
        except (ArtifactNotFoundError, ValueError) as error:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return model_service_pb2.RegisterModelVersionResponse(model_version=_version_to_proto(version), created=created)

    async def GetModelVersion(self, request: model_service_pb2.GetModelVersionRequest, context: Any) -> Any:
        versions = await asyncio.to_thread(list_model_versions, self._engine, request.model.name)
        for version in versions:
            if version.version == request.model.version:
                return _version_to_proto(version)
        await _abort(
            context, grpc.StatusCode.NOT_FOUND, f"{request.model.name} {request.model.version} is not registered"
        )
        return None  # pragma: no cover

    async def ListModelVersions(
        self, request: model_service_pb2.ListModelVersionsRequest, context: Any
    ) -> model_service_pb2.ListModelVersionsResponse:
        versions = await asyncio.to_thread(list_model_versions, self._engine, request.model_name or None)
        return model_service_pb2.ListModelVersionsResponse(model_versions=[_version_to_proto(v) for v in versions])


def run_to_proto(row: ShadowRunRow) -> shadow_service_pb2.ShadowRun:
    """A stored run as its status message."""
    message = shadow_service_pb2.ShadowRun(
        run_id=row.id,
        model=common_pb2.ModelRef(name=row.model_name, version=row.model_version),
        state=_STATES.get(row.state, shadow_service_pb2.SHADOW_RUN_STATE_UNSPECIFIED),
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        phase=row.phase,
        error=row.error or "",
        owner=(row.claimed_by or "") if row.state == "running" else "",
        interruptions=row.interruptions or 0,
        notes=list(row.notes or ()),
    )
    for part in row.parts or ():
        message.parts.add(
            key=part.get("key", ""),
            execution_provider=part.get("execution_provider", ""),
            hardware_class=part.get("hardware_class", ""),
            state=_PART_STATES.get(part.get("state", ""), shadow_service_pb2.SHADOW_RUN_PART_STATE_UNSPECIFIED),
            progress_done=part.get("done", 0),
            progress_total=part.get("total", 0),
            hostname=part.get("hostname", ""),
            node_id=part.get("node_id", ""),
            error=part.get("error", ""),
        )
    for field in ("created_at", "started_at", "finished_at", "heartbeat_at"):
        value = getattr(row, field)
        if value is not None:
            getattr(message, field).FromDatetime(value)
    return message


def _node_to_proto(node: dict[str, str]) -> shadow_service_pb2.NodeHardware:
    """The hardware a measurement was taken on, as ``shadow.cluster_worker.node_hardware`` described it."""
    count = node.get("cpu_count", "")
    return shadow_service_pb2.NodeHardware(
        hostname=node.get("hostname", ""),
        node_id=node.get("node_id", ""),
        cpu_model=node.get("cpu_model", ""),
        cpu_flags=node.get("cpu_flags", ""),
        cpu_count=int(count) if count.isdigit() else 0,
        gpus=[name for name in node.get("gpus", "").split("; ") if name],
        onnxruntime_version=node.get("onnxruntime", ""),
        available_providers=[name for name in node.get("providers", "").split(",") if name],
    )


def _variant_to_proto(name: str, metrics: dict[str, Any], error: str | None) -> shadow_service_pb2.VariantResult:
    measurement = metrics.get("measurement") or {}
    variant = metrics.get("variant") or {}
    comparison = metrics.get("comparison") or {}
    verdict = metrics.get("verdict") or {}
    message = shadow_service_pb2.VariantResult(
        name=name,
        execution_provider=measurement.get("execution_provider") or "",
        hardware_class=measurement.get("hardware_class") or "",
        latency_batch1=shadow_service_pb2.LatencyStats(
            p50_ms=measurement.get("p50_ms") or 0.0,
            p99_ms=measurement.get("p99_ms") or 0.0,
            samples=measurement.get("requests") or 0,
        ),
        throughput_per_s=measurement.get("throughput_rps") or 0.0,
        throughput_batch_size=measurement.get("throughput_batch") or 0,
        peak_memory_bytes=measurement.get("peak_memory_bytes") or 0,
        requests_replayed=comparison.get("n") or measurement.get("requests") or 0,
        error=error or measurement.get("error") or "",
        artifact_bytes=variant.get("size_bytes") or 0,
        node=_node_to_proto(measurement.get("node") or {}),
        notes=list(measurement.get("notes") or ()),
        pricing_warning=pricing_mismatch(
            measurement.get("hardware_class"),
            measurement.get("execution_provider") or "",
            measurement.get("node") or {},
        )
        or "",
    )
    quality = message.quality
    if agreement := comparison.get("agreement"):
        quality.agreement = agreement["rate"]
        quality.agreement_lower_bound = agreement["lower"]
    if accuracy := comparison.get("accuracy"):
        quality.accuracy = accuracy["variant"]
        quality.baseline_accuracy = accuracy["baseline"]
        quality.accuracy_loss_upper_bound_points = accuracy["loss_upper"] * 100
        quality.outcomes_used = accuracy["n"]
    if probabilities := comparison.get("probabilities"):
        quality.max_abs_diff = probabilities["max_abs_diff"]
        quality.mean_kl_divergence = probabilities["mean_kl"]
    if regression := comparison.get("regression"):
        quality.error_vs_baseline = regression["mae"]
        quality.error_vs_baseline_upper_bound = regression["mae_upper"]
    if cost := verdict.get("cost"):
        message.cost_per_1k_predictions = cost["variant_per_1k"]
    for point in measurement.get("batch_curve") or ():
        message.batch_curve.add(
            batch_size=point["batch"],
            p50_ms=point["p50_ms"],
            p99_ms=point["p99_ms"],
            rows_per_s=point["rows_per_s"],
            cost_per_1k_predictions=point.get("cost_per_1k_usd") or 0.0,
        )
    return message


def _recommendation_to_proto(document: dict[str, Any] | None) -> shadow_service_pb2.Recommendation:
    if not document:
        return shadow_service_pb2.Recommendation()
    reason = {
        "quality": shadow_service_pb2.KEEP_REASON_QUALITY,
        "no_gain": shadow_service_pb2.KEEP_REASON_NO_GAIN,
        "not_enough_traffic": shadow_service_pb2.KEEP_REASON_NOT_ENOUGH_TRAFFIC,
        "unpriced": shadow_service_pb2.KEEP_REASON_UNPRICED,
        "slice": shadow_service_pb2.KEEP_REASON_SLICE,
        "unchanged": shadow_service_pb2.KEEP_REASON_UNCHANGED,
        "no_variant": shadow_service_pb2.KEEP_REASON_NO_VARIANT,
    }
    return shadow_service_pb2.Recommendation(
        decision=shadow_service_pb2.DECISION_SWITCH
        if document["decision"] == "switch"
        else shadow_service_pb2.DECISION_KEEP,
        variant=document.get("variant") or "",
        keep_reason=reason.get(document.get("keep_reason") or "", shadow_service_pb2.KEEP_REASON_UNSPECIFIED),
        explanation=document.get("explanation") or "",
        latency_improvement=document.get("latency_improvement") or 0.0,
        cost_improvement=document.get("cost_improvement") or 0.0,
        headline=document.get("headline") or "",
        closest_variant=document.get("closest") or "",
    )


class ShadowServicer(shadow_service_pb2_grpc.ShadowServiceServicer):
    """Hands started runs to this replica's coordinator and answers from the stored rows."""

    def __init__(self, engine: Engine, runs: RunCoordinator, settings: ShadowSettings | None = None) -> None:
        self._engine = engine
        self._settings = settings or ShadowSettings()
        self.runs = runs

    async def StartShadowRun(self, request: shadow_service_pb2.StartShadowRunRequest, context: Any) -> Any:
        from shadow.store import create_run

        if not request.model.name:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "model.name is required")
        try:
            version = request.model.version or await asyncio.to_thread(latest_version, self._engine, request.model.name)
        except ShadowError as error:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(error))
        try:
            # Everything is checked now, not minutes later on the worker: specs, providers, margins.
            plan = await asyncio.to_thread(plan_run, request, self._settings)
        except ShadowError as error:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(error))
        except ValueError as error:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        run_id = await asyncio.to_thread(create_run, self._engine, request.model.name, version, plan.stored)
        # Claimed here at once; when this replica is stopping, the run stays queued for the next one to take.
        await asyncio.to_thread(self.runs.claim, run_id, plan)
        return await self._status(run_id, context)

    async def _row(self, run_id: str, context: Any) -> ShadowRunRow:
        def load() -> ShadowRunRow | None:
            with Session(self._engine, expire_on_commit=False) as session:
                return session.scalar(
                    select(ShadowRunRow)
                    .where(ShadowRunRow.id == run_id)
                    .options(_selectinload(ShadowRunRow.variant_results))
                )

        row = await asyncio.to_thread(load)
        if row is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"no shadow run {run_id!r}")
        assert row is not None
        return row

    async def _status(self, run_id: str, context: Any) -> shadow_service_pb2.ShadowRun:
        return run_to_proto(await self._row(run_id, context))

    async def GetShadowRun(self, request: shadow_service_pb2.GetShadowRunRequest, context: Any) -> Any:
        return await self._status(request.run_id, context)

    async def GetShadowRunResult(self, request: shadow_service_pb2.GetShadowRunRequest, context: Any) -> Any:
        row = await self._row(request.run_id, context)
        if row.state != "succeeded":
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"run {row.id} is {row.state}, not succeeded")
        return shadow_service_pb2.ShadowRunResult(
            run=run_to_proto(row),
            variants=[_variant_to_proto(v.name, v.metrics, v.error) for v in row.variant_results],
            recommendation=_recommendation_to_proto(row.recommendation),
        )

    async def ListShadowRuns(self, request: shadow_service_pb2.ListShadowRunsRequest, context: Any) -> Any:
        def load() -> list[ShadowRunRow]:
            query = select(ShadowRunRow).order_by(ShadowRunRow.created_at.desc()).limit(request.page_size or 100)
            if request.model.name:
                query = query.where(ShadowRunRow.model_name == request.model.name)
            with Session(self._engine) as session:
                return list(session.scalars(query))

        rows = await asyncio.to_thread(load)
        return shadow_service_pb2.ListShadowRunsResponse(runs=[run_to_proto(row) for row in rows])

    async def CancelShadowRun(self, request: shadow_service_pb2.GetShadowRunRequest, context: Any) -> Any:
        from shadow.store import cancel_run

        row = await self._row(request.run_id, context)
        # Whichever replica runs it stops at its next progress report (at most execution.PROGRESS_EVERY_S later),
        # and on Ray ends the run's workers.
        before = await asyncio.to_thread(cancel_run, self._engine, row.id)
        if before not in ("queued", "running"):
            await _abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"run {row.id} is {before}; only queued or running runs can be cancelled",
            )
        return await self._status(row.id, context)


def registrations(
    engine: Engine, db_url: str, settings: ShadowSettings | None = None, replica_id: str | None = None
) -> tuple[list[ServiceRegistration], RunCoordinator]:
    """Both servicers, and the coordinator of this replica's runs, for the composition root to run its periodic
    pass and to release its runs on shutdown.

    ``settings`` (the ``[shadow]`` and ``[pricing]`` sections) are what a request's zero fields fall back to.
    """
    settings = settings or ShadowSettings()
    runs = RunCoordinator(engine, db_url, settings, replica_id)
    models = ModelServicer(engine)
    shadow = ShadowServicer(engine, runs, settings)
    return [
        ServiceRegistration(
            "inferwatch.v1.ModelService",
            lambda server: model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, server),  # type: ignore[no-untyped-call]
        ),
        ServiceRegistration(
            "inferwatch.v1.ShadowService",
            lambda server: shadow_service_pb2_grpc.add_ShadowServiceServicer_to_server(shadow, server),  # type: ignore[no-untyped-call]
        ),
    ], runs
