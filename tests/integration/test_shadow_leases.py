"""Shadow runs under leases, end to end: a run outlives a restart of its `inferwatch serve` process, another
process takes over the run of one killed with SIGKILL, a second replica cancels it, and GetShadowRun shows
each part's progress and node while the run goes on."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

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
from tests.integration.http_helpers import http_json
from tests.integration.process_harness import start_serve
from tests.integration.service_harness import RunningService, loopback_config
from tests.integration.test_shadow_cli import record_predictions
from tests.shadow.models import BuiltModel, iris_tiny_mlp
from tests.shadow.ray_cluster import RayTestCluster

_QUEUED = shadow_service_pb2.SHADOW_RUN_STATE_QUEUED
_RUNNING = shadow_service_pb2.SHADOW_RUN_STATE_RUNNING
_SUCCEEDED = shadow_service_pb2.SHADOW_RUN_STATE_SUCCEEDED
_CANCELLED = shadow_service_pb2.SHADOW_RUN_STATE_CANCELLED
_REQUESTS = 400
# Phases with at least a second of the run still ahead: stopping the service there is stopping it mid-run.
_EARLY_PHASES = ("build", "throughput")


def _scrambled_copy(source: Path, destination: Path) -> Path:
    """The model with its first weight matrix negated: as fast, but answering otherwise, so every run on the
    same traffic keeps the baseline for quality, with the same agreement, however noisy the latencies."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(source))
    tensor = next(t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2)
    tensor.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(tensor), tensor.name))
    onnx.save(proto, str(destination))
    return destination


def _prepare(service: RunningService, tmp_path: Path, hardware_class: str = "cpu") -> tuple[BuiltModel, Path]:
    """Register iris, record its traffic, and build the variant to compare it with."""
    model = iris_tiny_mlp(tmp_path)
    with grpc.insecure_channel(service.grpc_target) as channel:
        model_service_pb2_grpc.ModelServiceStub(channel).RegisterModelVersion(  # type: ignore[no-untyped-call]
            model_service_pb2.RegisterModelVersionRequest(
                model=common_pb2.ModelRef(name="iris", version="1"),
                artifact=model_service_pb2.Artifact(uri=str(model.path)),
                hardware_class=hardware_class,
                task=model_service_pb2.TASK_CLASSIFICATION,
            ),
            timeout=30,
        )
    # Recent: a `serve` process's retention pass would delete older predictions before the run samples them.
    recent = time.time_ns() - 2 * _REQUESTS * 1_000_000_000
    record_predictions(service, model.input_name, model.rows, _REQUESTS, first_ns=recent)
    return model, _scrambled_copy(model.path, tmp_path / "iris_copy.onnx")


def _stub(target: str) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(target)
    return channel, shadow_service_pb2_grpc.ShadowServiceStub(channel)  # type: ignore[no-untyped-call]


def _start_run(stub: Any, copy: Path, **variant: Any) -> str:
    started = stub.StartShadowRun(
        shadow_service_pb2.StartShadowRunRequest(
            model=common_pb2.ModelRef(name="iris"),
            variants=[shadow_service_pb2.VariantSpec(onnx_path=str(copy), **variant)],
            requests=_REQUESTS,
            disable_early_stop=True,
        ),
        timeout=30,
    )
    return str(started.run_id)


def _status(stub: Any, run_id: str) -> shadow_service_pb2.ShadowRun:
    status: shadow_service_pb2.ShadowRun = stub.GetShadowRun(
        shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10
    )
    return status


def _wait_until(
    stub: Any, run_id: str, ready: Callable[[shadow_service_pb2.ShadowRun], bool], timeout_s: float = 120
) -> shadow_service_pb2.ShadowRun:
    deadline = time.monotonic() + timeout_s
    while True:
        status = _status(stub, run_id)
        if ready(status):
            return status
        assert status.state in (_QUEUED, _RUNNING), f"the run ended first: {status.state} {status.error}"
        assert time.monotonic() < deadline, f"run stuck in {status.state} {status.phase}"
        time.sleep(0.02)


def _mid_run(status: shadow_service_pb2.ShadowRun) -> bool:
    return status.state == _RUNNING and status.phase in _EARLY_PHASES


def _succeeded(stub: Any, run_id: str, timeout_s: float = 120) -> shadow_service_pb2.ShadowRunResult:
    deadline = time.monotonic() + timeout_s
    while (status := _status(stub, run_id)).state in (_QUEUED, _RUNNING):
        assert time.monotonic() < deadline, f"run stuck in {status.state} {status.phase}"
        time.sleep(0.1)
    assert status.state == _SUCCEEDED, status.error
    result: shadow_service_pb2.ShadowRunResult = stub.GetShadowRunResult(
        shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10
    )
    return result


def _verdict(result: shadow_service_pb2.ShadowRunResult) -> tuple[Any, ...]:
    """What a rerun on the same traffic must reproduce: the decision, and each variant's agreement and count."""
    recommendation = result.recommendation
    return (
        recommendation.decision,
        recommendation.keep_reason,
        recommendation.closest_variant,
        sorted((v.name, v.quality.agreement, v.requests_replayed) for v in result.variants),
    )


def _serve(tmp_path: Path, name: str, db_url: str, lease_s: float | None = None) -> subprocess.Popen[str]:
    """`inferwatch serve` in a directory of its own (its spool, and an inferwatch.toml with the lease)."""
    workdir = tmp_path / name
    workdir.mkdir()
    if lease_s is not None:
        (workdir / "inferwatch.toml").write_text(f"[shadow]\nlease_s = {lease_s}\n")
    process, grpc_port, _ = start_serve(workdir, db_url)
    process.grpc_target = f"127.0.0.1:{grpc_port}"  # type: ignore[attr-defined]
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def test_a_run_survives_a_restart_of_its_serve_process(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Stopped mid-run (SIGTERM), the process hands the run back; started again, it resumes and completes it
    with the verdict an uninterrupted run on the same traffic gives."""
    seeding = start_service(loopback_config(db_url, tmp_path / "spool"))
    _, copy = _prepare(seeding, tmp_path)
    seeding.stop()  # one `serve` per SQLite file
    first = _serve(tmp_path, "first", db_url)
    try:
        channel, stub = _stub(first.grpc_target)  # type: ignore[attr-defined]
        with channel:
            run_id = _start_run(stub, copy)
            _wait_until(stub, run_id, _mid_run)
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=60) == 0
    finally:
        _stop(first)
    second = _serve(tmp_path, "second", db_url)
    try:
        channel, stub = _stub(second.grpc_target)  # type: ignore[attr-defined]
        with channel:
            resumed = _succeeded(stub, run_id)
            uninterrupted = _succeeded(stub, _start_run(stub, copy))
    finally:
        _stop(second)
    assert _verdict(resumed) == _verdict(uninterrupted)
    assert (resumed.recommendation.decision, resumed.recommendation.keep_reason) == (
        shadow_service_pb2.DECISION_KEEP,
        shadow_service_pb2.KEEP_REASON_QUALITY,
    )
    notes = list(resumed.run.notes)
    assert len(notes) == 2, notes
    assert "its replica stopped; the replay restarts from the beginning" in notes[0]
    assert f":{second.pid}:" in notes[1]
    assert "resumed by" in notes[1]
    assert resumed.run.interruptions == 0
    assert [part.state for part in resumed.run.parts] == [shadow_service_pb2.SHADOW_RUN_PART_STATE_DONE] * 2


def test_a_killed_replicas_run_is_taken_over_after_its_lease(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """SIGKILL leaves the run "running" under a lease no one renews; another process takes it over once the
    lease (2 s here) has expired, says so, counts the interruption, and completes it with the same verdict."""
    seeding = start_service(loopback_config(db_url, tmp_path / "spool"))
    _, copy = _prepare(seeding, tmp_path)
    seeding.stop()
    postgres = db_url.startswith("postgresql")
    killed = _serve(tmp_path, "killed", db_url, lease_s=2)
    # On PostgreSQL the other replica is up all along; one SQLite file has one `serve` at a time.
    other = _serve(tmp_path, "other", db_url, lease_s=2) if postgres else None
    try:
        channel, stub = _stub(killed.grpc_target)  # type: ignore[attr-defined]
        with channel:
            run_id = _start_run(stub, copy)
            held = _wait_until(stub, run_id, _mid_run)
            assert f":{killed.pid}:" in held.owner
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
        other = other or _serve(tmp_path, "other", db_url, lease_s=2)
        channel, stub = _stub(other.grpc_target)  # type: ignore[attr-defined]
        with channel:
            taken = _wait_until(stub, run_id, lambda s: f":{other.pid}:" in s.owner, timeout_s=60)
            assert taken.interruptions == 1
            resumed = _succeeded(stub, run_id)
            uninterrupted = _succeeded(stub, _start_run(stub, copy))
    finally:
        _stop(killed)
        if other is not None:
            _stop(other)
    assert _verdict(resumed) == _verdict(uninterrupted)
    (note,) = resumed.run.notes
    assert f"taken over by {taken.owner}: the lease of {held.owner} expired" in note
    assert resumed.run.interruptions == 1


def _follow_parts(service: RunningService, copy: Path, **variant: Any) -> tuple[Any, ...]:
    """Start a run; the first status that shows its parts, and the finished result."""
    channel, stub = _stub(service.grpc_target)
    with channel:
        run_id = _start_run(stub, copy, **variant)
        seen = _wait_until(stub, run_id, lambda s: s.state == _RUNNING and len(s.parts) == 2)
        return seen, _succeeded(stub, run_id)


def test_each_parts_progress_and_node_show_mid_run_and_in_the_result(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Local executor: both parts on this host while the run goes on, done at the end; each variant's result
    carries the hardware that measured it, and a GPU price class on this CPU is flagged."""
    service = start_service(loopback_config(db_url, tmp_path / "spool"))
    _, copy = _prepare(service, tmp_path)
    seen, result = _follow_parts(service, copy, hardware_class="nvidia-l4")
    status, listed = http_json(f"{service.http_base}/api/v1/shadow-runs")
    assert status == 200, listed
    (run,) = listed["shadow_runs"]
    assert (run["state"], run["owner"], run["heartbeat_at"], run["interruptions"], run["notes"]) == (
        "succeeded",
        None,
        None,
        0,
        [],
    )
    assert {(part["key"], part["state"], part["hostname"]) for part in run["parts"]} == {
        ("baseline", "done", socket.gethostname()),
        ("iris_copy.onnx", "done", socket.gethostname()),
    }
    assert run["progress"]["done"] == run["progress"]["total"] > 0
    parts = {part.key: part for part in seen.parts}
    assert set(parts) == {"baseline", "iris_copy.onnx"}
    for part in parts.values():
        assert part.state == shadow_service_pb2.SHADOW_RUN_PART_STATE_RUNNING
        assert part.hostname == socket.gethostname()
        assert part.progress_total > 0
        assert part.progress_done <= part.progress_total
    assert parts["iris_copy.onnx"].hardware_class == "nvidia-l4"
    assert seen.owner
    assert seen.HasField("heartbeat_at")
    done = {part.key: part for part in result.run.parts}
    assert {part.state for part in done.values()} == {shadow_service_pb2.SHADOW_RUN_PART_STATE_DONE}
    assert done["baseline"].progress_done == result.variants[0].requests_replayed > 0
    for variant in result.variants:
        assert variant.node.hostname == socket.gethostname()
        assert variant.node.cpu_model
        assert variant.node.onnxruntime_version
        assert "CPUExecutionProvider" in variant.node.available_providers
    by_name = {variant.name: variant for variant in result.variants}
    assert by_name["baseline"].pricing_warning == ""
    if not by_name["iris_copy.onnx"].node.gpus:
        assert by_name["iris_copy.onnx"].pricing_warning == (
            f"priced as nvidia-l4, but {socket.gethostname()} reports no NVIDIA GPU"
        )


def test_on_ray_each_part_shows_its_worker_node(
    db_url: str, tmp_path: Path, start_service: Callable[[Config], RunningService], ray_cluster: RayTestCluster
) -> None:
    """[shadow] executor = "ray": each part names the Ray node it replays on, and so does its result."""
    config = replace(
        loopback_config(db_url, tmp_path / "spool"),
        feature_sections={"shadow": {"executor": "ray", "ray_address": ray_cluster.address}},
    )
    service = start_service(config)
    _, copy = _prepare(service, tmp_path, hardware_class="cpu-a")
    seen, result = _follow_parts(service, copy)
    for part in seen.parts:
        assert part.hardware_class == "cpu-a"
        assert part.state in (
            shadow_service_pb2.SHADOW_RUN_PART_STATE_QUEUED,
            shadow_service_pb2.SHADOW_RUN_PART_STATE_RUNNING,
        )
    placed = {part.key: part.node_id for part in result.run.parts}
    assert all(placed.values()), placed
    for variant in result.variants:
        assert variant.node.node_id == placed[variant.name]
        assert variant.node.hostname
        assert variant.node.onnxruntime_version
        assert variant.node.cpu_count > 0


@pytest.mark.postgres
def test_a_run_is_cancelled_from_another_replica(
    fresh_postgres_url: Callable[[], str], tmp_path: Path, start_service: Callable[[Config], RunningService]
) -> None:
    """Two replicas on one PostgreSQL database: a run held by the first is cancelled through the second, and
    the first stops it at its next progress report."""
    url = fresh_postgres_url()
    holder = start_service(loopback_config(url, tmp_path / "spool-a"))
    other = start_service(loopback_config(url, tmp_path / "spool-b"))
    _, copy = _prepare(holder, tmp_path)
    channel, stub = _stub(holder.grpc_target)
    with channel:
        run_id = _start_run(stub, copy)
        running = _wait_until(stub, run_id, _mid_run)
    assert holder.service is not None
    assert holder.service.shadow_runs is not None
    assert running.owner == holder.service.shadow_runs.replica_id
    channel, stub = _stub(other.grpc_target)
    with channel:
        cancelled = stub.CancelShadowRun(shadow_service_pb2.GetShadowRunRequest(run_id=run_id), timeout=10)
        assert cancelled.state == _CANCELLED
        deadline = time.monotonic() + 30
        while holder.service.shadow_runs.running():
            assert time.monotonic() < deadline, "the holding replica did not stop the run"
            time.sleep(0.05)
        assert _status(stub, run_id).state == _CANCELLED
