"""What runs inside a Ray worker: one model's replay (an actor), and the hardware of the node it runs on.

Nothing here imports Ray: ``shadow.cluster`` wraps ``PartWorker`` with ``ray.remote`` when a run asks for the
Ray executor, so this module (and its tests) load without Ray installed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shutil
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from shadow.errors import ReplayError
from shadow.hardware import NVIDIA_PROVIDERS, gpu_class_from_name, nvidia_gpu_names
from shadow.replay import Measurement, ModelToRun, Replay, ReplayOptions
from shadow.tensors import Feed

# The CPU flags that decide whether int8 and fp16 kernels are fast (research/shadow-anchors.md).
_CPU_FLAGS: Final = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimd", "sve")


@functools.cache
def node_hardware() -> dict[str, str]:
    """This machine as a verdict is valid for: CPU model and int8-relevant flags, GPU names, ORT version."""
    import onnxruntime

    model, flags = platform.processor() or platform.machine(), ""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == "model name" and value.strip():
            model = value.strip()
        elif name.strip() in ("flags", "Features") and not flags:
            present = set(value.split())
            flags = " ".join(flag for flag in _CPU_FLAGS if flag in present)
    return {
        "hostname": socket.gethostname(),
        "cpu_model": model,
        "cpu_flags": flags,
        "cpu_count": str(os.cpu_count() or 0),
        "gpus": "; ".join(nvidia_gpu_names()),
        "onnxruntime": onnxruntime.__version__,
        "providers": ",".join(onnxruntime.get_available_providers()),
    }


def pricing_mismatch(hardware_class: str | None, execution_provider: str, node: Mapping[str, str]) -> str | None:
    """Why a run cannot be priced as ``hardware_class`` on the node that measured it; None when it can.

    Only GPU classes can be checked against the node (``nvidia-l4`` against the GPU names the node reports);
    a CPU class such as ``cpu-a`` is whatever the operator says it is.
    """
    if not hardware_class or not hardware_class.startswith("nvidia-") or not node:
        return None
    found = [cls for name in node.get("gpus", "").split("; ") if name and (cls := gpu_class_from_name(name))]
    where = node.get("hostname", "the node")
    if not found:
        return f"priced as {hardware_class}, but {where} reports no NVIDIA GPU"
    if execution_provider in NVIDIA_PROVIDERS and hardware_class not in found:
        return f"priced as {hardware_class}, but {where} has {', '.join(sorted(set(found)))}"
    return None


def scratch_root() -> Path:
    """Where workers keep their model files: ``<tmp>/inferwatch-parts/<run>/<worker pid>/model.onnx``."""
    return Path(tempfile.gettempdir()) / "inferwatch-parts"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def sweep_scratch() -> None:
    """Remove the files of workers on this machine that died without closing (their process is gone)."""
    root = scratch_root()
    for worker_dir in root.glob("*/*"):
        if worker_dir.name.isdigit() and not _alive(int(worker_dir.name)):
            shutil.rmtree(worker_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                worker_dir.parent.rmdir()


class PartWorker:
    """One model of a run, replayed on one worker: the ONNX session is opened once and kept for every chunk.

    A model that cannot load is not an exception here (that would read as a dead worker and be retried):
    each call returns the measurement with its error instead.
    """

    def __init__(
        self, key: str, model_bytes: bytes, execution_provider: str, options: ReplayOptions, run_name: str = "run"
    ) -> None:
        # A worker killed mid-run (SIGKILL, a lost node) never reaches close(): its file is swept by the next
        # worker on the node, and by the driver at the end of the run when it shares the worker's machine.
        sweep_scratch()
        self._scratch = scratch_root() / run_name / str(os.getpid())
        self._scratch.mkdir(parents=True, exist_ok=True)
        path = self._scratch / "model.onnx"
        # Variant files are built on the service's machine; they reach the worker through the object store.
        path.write_bytes(model_bytes)
        self._model = ModelToRun(key, path, execution_provider)
        self._options = options
        self._replay: Replay | None = None
        self._error: str | None = None

    def where(self) -> tuple[str, str, int]:
        """The Ray node id and host name of this worker, and its process id (only called inside Ray)."""
        import ray

        return ray.get_runtime_context().get_node_id(), node_hardware()["hostname"], os.getpid()

    def prepare(self, warmup: Sequence[Feed], throughput: Sequence[Feed], curve: Sequence[Feed]) -> Measurement:
        """Open the session (warm-up included), then measure throughput and the batch curve."""
        try:
            self._replay = Replay([self._model], self._options, warmup)
            self._replay.run_throughput(throughput)
            self._replay.run_batch_curve(curve)
        except ReplayError as error:
            self._error = str(error)
        return self.measurement()

    def replay(self, chunk: Sequence[Feed]) -> Measurement:
        """Run one chunk of requests at batch 1; the measurement covers every chunk so far."""
        if self._replay is not None and self._error is None:
            try:
                self._replay.run_requests(chunk)
            except ReplayError as error:
                self._error = str(error)
        return self.measurement()

    def measurement(self) -> Measurement:
        """What this model measured so far, with the node's hardware."""
        node = node_hardware()
        if self._replay is None or self._error is not None:
            return failed_measurement(self._model.key, self._model.execution_provider, self._error or "", node)
        measured = self._replay.measurements()[self._model.key]
        return replace(measured, node=node)

    def close(self) -> None:
        """Release the session and its file."""
        self._replay = None
        shutil.rmtree(self._scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._scratch.parent.rmdir()  # the run's directory, once its last worker here is gone


def failed_measurement(
    key: str, execution_provider: str, error: str, node: Mapping[str, str] | None = None, notes: tuple[str, ...] = ()
) -> Measurement:
    """A part that measured nothing usable, with the reason."""
    return Measurement(
        key=key,
        execution_provider=execution_provider,
        latencies_ms=(),
        throughput_rps=float("nan"),
        throughput_batch=1,
        throughput_rounds_rps=(),
        peak_memory_bytes=None,
        memory_method="unavailable",
        notes=notes,
        error=error,
        node=dict(node or {}),
    )
