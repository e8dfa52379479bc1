"""What a Ray worker runs, exercised in this process (no Ray needed): the part replay, node hardware, and the
check of a GPU pricing class against the node that measured it."""

from __future__ import annotations

import os
import socket

import onnxruntime
import pytest

from shadow.cluster import _death_reason, check_reachable
from shadow.cluster_worker import PartWorker, node_hardware, pricing_mismatch
from shadow.errors import ClusterUnavailableError
from shadow.replay import ReplayOptions
from tests.shadow.models import BuiltModel

_FAST = ReplayOptions(warmup=2, throughput_rounds=1, round_seconds=0.01, curve_max_batch=4, curve_seconds=0.01)


def test_a_part_replays_chunk_by_chunk_and_reports_its_node(tiny: BuiltModel) -> None:
    """The session opens once; each chunk adds to the measurement, which carries this machine's hardware."""
    feeds = tiny.feeds(40)
    worker = PartWorker("fp16", tiny.path.read_bytes(), "CPUExecutionProvider", _FAST)
    try:
        prepared = worker.prepare(feeds[:10], feeds, feeds)
        assert prepared.error is None
        assert prepared.throughput_rps > 0
        worker.replay(feeds[:25])
        measured = worker.replay(feeds[25:])
    finally:
        worker.close()
    assert len(measured.latencies_ms) == 40
    assert next(iter(measured.outputs.values())).shape[0] == 40
    assert measured.node["onnxruntime"] == onnxruntime.__version__
    assert measured.node["cpu_model"]
    assert measured.node == node_hardware()


def test_a_model_that_cannot_load_is_a_measured_error_not_a_dead_worker(tiny: BuiltModel) -> None:
    """An exception would read as a worker crash and be retried elsewhere; the error is returned instead."""
    worker = PartWorker("broken", b"not an onnx file", "CPUExecutionProvider", _FAST)
    measured = worker.prepare(tiny.feeds(5), tiny.feeds(5), tiny.feeds(5))
    assert measured.error is not None
    assert "broken: cannot load" in measured.error
    assert worker.replay(tiny.feeds(5)).error == measured.error
    worker.close()


@pytest.mark.parametrize(
    ("hardware_class", "provider", "gpus", "expected"),
    [
        ("nvidia-l4", "CUDAExecutionProvider", "NVIDIA L4", None),
        ("nvidia-l4", "CUDAExecutionProvider", "Tesla T4", "priced as nvidia-l4, but gpu-7 has nvidia-t4"),
        ("nvidia-l4", "CUDAExecutionProvider", "", "priced as nvidia-l4, but gpu-7 reports no NVIDIA GPU"),
        ("nvidia-h100", "CUDAExecutionProvider", "NVIDIA A100-SXM4-80GB; NVIDIA H100 80GB HBM3", None),
        ("cpu-a", "CPUExecutionProvider", "", None),
        (None, "CUDAExecutionProvider", "Tesla T4", None),
    ],
)
def test_a_gpu_pricing_class_is_checked_against_the_nodes_gpus(
    hardware_class: str | None, provider: str, gpus: str, expected: str | None
) -> None:
    """A class named for a GPU must be the node's GPU; CPU classes are the operator's word."""
    node = {"hostname": "gpu-7", "gpus": gpus}
    assert pricing_mismatch(hardware_class, provider, node) == expected
    assert pricing_mismatch(hardware_class, provider, {}) is None  # a local run: no node to check against


def test_a_dead_workers_reason_is_rays_sentence_without_its_advice() -> None:
    """The reason kept on the part is the line that says why, not Ray's troubleshooting list."""
    message = (
        "The actor died unexpectedly before finishing this task.\n\tclass_name: PartWorker\n\tpid: 4242\n"
        "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit "
        "detail: Worker unexpectedly exits with a connection error code 2. End of file. Some common causes "
        "include: (1) the process was killed by the OOM killer"
    )
    reason = _death_reason(RuntimeError(message))
    assert reason.startswith("The actor is dead because its worker process has died.")
    assert "End of file." in reason
    assert "Some common causes" not in reason


def test_an_unreachable_head_is_a_clear_error_at_once() -> None:
    """A port where nothing listens fails in milliseconds, naming the address, instead of Ray's minutes of retries."""
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(
            ClusterUnavailableError, match=rf"cannot join the Ray cluster at {address}.*nothing answers"
        ):
            check_reachable(address, timeout_s=2)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        check_reachable(f"127.0.0.1:{listening.getsockname()[1]}")


def test_auto_is_resolved_and_checked_before_joining(monkeypatch: pytest.MonkeyPatch) -> None:
    """The address "auto" leads where Ray would go (RAY_ADDRESS first): a head gone from there is named at once."""
    pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(
        ClusterUnavailableError,
        # Ray names this machine by its address on the network, not 127.0.0.1.
        match=rf'cannot join the Ray cluster at "auto" \([\d.]+:{port}\).*nothing answers',
    ):
        check_reachable("auto", timeout_s=2)


def test_a_killed_workers_model_file_is_swept_and_a_closed_one_leaves_nothing(tiny: BuiltModel) -> None:
    """A worker that died without close() (its process gone) leaves its file; the next worker here removes it,
    and its own goes with close(), the run's directory with its last worker."""
    import subprocess
    import sys

    from shadow.cluster_worker import scratch_root

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = scratch_root() / "inferwatch-shadow-test-dead" / gone.stdout.strip()
    dead.mkdir(parents=True)
    (dead / "model.onnx").write_bytes(b"left by a killed worker")
    worker = PartWorker("fp16", tiny.path.read_bytes(), "CPUExecutionProvider", _FAST, "inferwatch-shadow-test-live")
    assert not dead.parent.exists()
    mine = scratch_root() / "inferwatch-shadow-test-live" / str(os.getpid())
    assert (mine / "model.onnx").exists()
    worker.close()
    assert not mine.parent.exists()
