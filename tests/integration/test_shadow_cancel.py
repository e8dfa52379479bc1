"""CancelShadowRun on a running run, over gRPC: the run stops, stays cancelled, and on Ray its workers end."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from collector.core.config import Config
from inferwatch.v1 import (
    common_pb2,
    model_service_pb2,
    model_service_pb2_grpc,
    shadow_service_pb2,
    shadow_service_pb2_grpc,
)
from tests.integration.service_harness import RunningService, loopback_config
from tests.integration.test_shadow_cli import record_predictions
from tests.shadow.models import iris_tiny_mlp
from tests.shadow.ray_cluster import RayTestCluster, shadow_actors_left

_QUEUED = shadow_service_pb2.SHADOW_RUN_STATE_QUEUED
_RUNNING = shadow_service_pb2.SHADOW_RUN_STATE_RUNNING
_CANCELLED = shadow_service_pb2.SHADOW_RUN_STATE_CANCELLED


def _start(service: RunningService, tmp_path: Path, channel: grpc.Channel) -> str:
    """Register iris as a cpu-a model, record traffic and start a run of every built-in variant, early stop off."""
    model = iris_tiny_mlp(tmp_path)
    models = model_service_pb2_grpc.ModelServiceStub(channel)  # type: ignore[no-untyped-call]
    models.RegisterModelVersion(
        model_service_pb2.RegisterModelVersionRequest(
            model=common_pb2.ModelRef(name="iris", version="1"),
            artifact=model_service_pb2.Artifact(uri=str(model.path)),
            hardware_class="cpu-a",
            task=model_service_pb2.TASK_CLASSIFICATION,
        ),
        timeout=30,
    )
    record_predictions(service, model.input_name, model.rows, 400)
    stub = shadow_service_pb2_grpc.ShadowServiceStub(channel)  # type: ignore[no-untyped-call]
    started = stub.StartShadowRun(
        shadow_service_pb2.StartShadowRunRequest(
            model=common_pb2.ModelRef(name="iris"), requests=400, disable_early_stop=True
        ),
        timeout=30,
    )
    return str(started.run_id)


def _wait_for_phase(stub: shadow_service_pb2_grpc.ShadowServiceStub, run_id: str, phase: str) -> None:
    """Until the run is running ``phase``; a run that ends first fails the test with its error."""
    deadline = time.monotonic() + 120
    while True:
        status = stub.GetShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10)
        if status.state == _RUNNING and status.phase == phase:
            return
        assert status.state in (_QUEUED, _RUNNING), f"the run ended before {phase}: {status.state} {status.error}"
        assert time.monotonic() < deadline, f"run stuck in {status.state} {status.phase}"
        time.sleep(0.05)


def _cancel_while_running(service: RunningService, tmp_path: Path, phase: str) -> None:
    """Start a run, cancel it once it runs ``phase``, and check that the cancellation is what stays."""
    with grpc.insecure_channel(service.grpc_target) as channel:
        run_id = _start(service, tmp_path, channel)
        stub = shadow_service_pb2_grpc.ShadowServiceStub(channel)  # type: ignore[no-untyped-call]
        _wait_for_phase(stub, run_id, phase)
        cancelled = stub.CancelShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10)
        assert cancelled.state == _CANCELLED
        # The worker stops at its next progress report; the cancellation is what stays stored.
        time.sleep(2)
        final = stub.GetShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10)
        assert final.state == _CANCELLED
        assert final.progress_done < 400
        with pytest.raises(grpc.RpcError) as error:
            stub.GetShadowRunResult(shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10)
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as again:
            stub.CancelShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10)
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "only queued or running runs can be cancelled" in str(again.value.details())


def test_a_running_local_run_can_be_cancelled(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Cancelled while it builds its variants in the service process: it stops there and stays cancelled."""
    service = start_service(loopback_config(db_url, tmp_path / "spool"))
    _cancel_while_running(service, tmp_path, "build")


def test_a_running_ray_run_can_be_cancelled_and_its_workers_end(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService], ray_cluster: RayTestCluster
) -> None:
    """[shadow] executor = "ray": cancelled while its parts replay on the cluster; no worker is left."""
    config = replace(
        loopback_config(db_url, tmp_path / "spool"),
        feature_sections={"shadow": {"executor": "ray", "ray_address": ray_cluster.address}},
    )
    service = start_service(config)
    _cancel_while_running(service, tmp_path, "replay")
    deadline = time.monotonic() + 30
    while shadow_actors_left():
        assert time.monotonic() < deadline, f"workers left: {shadow_actors_left()}"
        time.sleep(0.2)
