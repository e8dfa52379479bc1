"""The Ray executor (``[shadow] executor = "ray"``): each model of a run replayed on a node of its hardware class.

A hardware class is a Ray resource: a worker node started with ``--resources '{"hw:nvidia-l4": 1}'`` runs the
parts priced as ``nvidia-l4``, one run per unit of the resource at a time (a run's parts of a class share a
unit). Each part (the baseline, or one variant on one execution provider) is an actor
(``shadow.cluster_worker.PartWorker``), so its ONNX session is opened once and kept for the whole run; the
model file and each look's chunk of recorded inputs reach the workers through Ray's object store, never
through the database.

The runner drives ``RayReplay`` exactly as it drives the local ``Replay``: throughput and the batch curve,
then one chunk per sequential look, then the measurements. What is different here is failure:

* a class with no alive node is reported on its part, "no worker for nvidia-l4", and the rest goes on;
* a worker that dies mid-run fails only its part, with Ray's reason; the part is retried once, from the
  start of the run, on another node of its class when one remains (the node it died on is excluded);
* the baseline is the yardstick of every comparison: when its part cannot run, the run fails.

The import of Ray stays inside this module's functions, so nothing loads it unless a run asks for it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from shadow.cluster_worker import PartWorker, failed_measurement, scratch_root
from shadow.errors import ClusterUnavailableError, ReplayError
from shadow.hardware import NVIDIA_PROVIDERS
from shadow.replay import Measurement, ModelToRun, PartProgress, Progress, ReplayOptions
from shadow.tensors import Feed

RESOURCE_PREFIX: Final = "hw:"
PROBE_GROUP: Final = "probe"
# How often the driver looks at its parts while they replay (and lets a cancellation in through progress).
_POLL_S: Final = 0.2
# How often it asks the cluster whether a part that is not placed yet still has a node to go to.
_NODE_CHECK_S: Final = 1.0
# How long a part may wait for a free unit of its class on nodes that have it, before it fails.
PLACEMENT_TIMEOUT_S: Final = 600.0
# How long a finished run waits for its workers to release their sessions before it kills them.
_CLOSE_S: Final = 5.0
# How long the head's port may take to accept a connection before the cluster counts as unreachable.
_CONNECT_S: Final = 5.0
_init_lock = threading.Lock()


def resource_for(hardware_class: str) -> str:
    """The Ray resource a node advertises for a hardware class: ``hw:nvidia-l4``."""
    return f"{RESOURCE_PREFIX}{hardware_class}"


def connect(address: str | None) -> None:
    """Join the cluster at ``address`` once per process (None: RAY_ADDRESS, else a one-node cluster here)."""
    import ray

    with _init_lock:
        if ray.is_initialized():
            return
        if address is not None or os.environ.get("RAY_ADDRESS"):
            check_reachable(address or os.environ["RAY_ADDRESS"])
        # Workers' logs stay on their nodes: copied into the service's log they would drown it.
        try:
            if address is None and not os.environ.get("RAY_ADDRESS"):
                # A cluster of this machine alone runs the default class, "cpu", one part per core at a time.
                cores = os.cpu_count() or 1
                ray.init(
                    resources={resource_for("cpu"): cores},
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = address or os.environ.get("RAY_ADDRESS") or "this machine"
            raise ClusterUnavailableError(
                f"cannot join the Ray cluster at {where} ([shadow] ray_address): {type(error).__name__}: {error}"
            ) from None


@functools.cache
def _remote_worker() -> Any:
    """``PartWorker`` as a Ray actor class, made once per process."""
    import ray

    # ``where`` answers from a thread of its own, even while the worker replays; the other calls keep their
    # order in the default group, one at a time.
    return ray.remote(concurrency_groups={PROBE_GROUP: 1})(PartWorker)  # type: ignore[call-overload]


def _resolve_auto() -> str:
    """Where ``ray_address = "auto"`` leads: RAY_ADDRESS, else the cluster `ray start` last recorded on this
    machine (a file that outlives a cluster that died), else a head process running here."""
    from ray._private.services import canonicalize_bootstrap_address_or_die

    try:
        return str(canonicalize_bootstrap_address_or_die("auto"))
    except (ConnectionError, ValueError) as error:
        raise ClusterUnavailableError(
            f'cannot join the Ray cluster at "auto" ([shadow] ray_address): {error}'
        ) from None


def check_reachable(address: str, timeout_s: float = _CONNECT_S) -> None:
    """Fail fast when a ``HOST:PORT`` (or ``ray://HOST:PORT``, or what ``"auto"`` finds) head does not answer:
    ``ray.init`` would retry for minutes, with the run stuck in "running" meanwhile."""
    shown = address
    if address == "auto":
        address = _resolve_auto()
        shown = f'"auto" ({address})'
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "local" is Ray's to start
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ClusterUnavailableError(
            f"cannot join the Ray cluster at {shown} ([shadow] ray_address): nothing answers there ({error})"
        ) from None


def _death_reason(error: BaseException) -> str:
    """Ray's account of a dead worker, without its troubleshooting advice: the line that says why."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next((line for line in lines if line.startswith("The actor is dead because")), lines[0] if lines else "")
    return reason.split(" Some common causes", 1)[0] or type(error).__name__


class _Part:
    """One model's replay on the cluster: its actor, where it runs, and how it fared."""

    def __init__(self, model: ModelToRun, hardware_class: str | None, model_ref: Any) -> None:
        self.model = model
        self.hardware_class = hardware_class
        self.model_ref = model_ref
        self.resources: dict[str, float] = {resource_for(hardware_class): 1} if hardware_class else {}
        if model.execution_provider in NVIDIA_PROVIDERS:
            self.resources["GPU"] = 1
        # What "no worker for X" names: the class, or a GPU for a CUDA run whose class is unknown.
        self.wants = hardware_class or ("a GPU" if "GPU" in self.resources else "")
        self.handle: Any = None
        self.where_ref: Any = None
        self.pending: Any = None
        self.node_id: str | None = None
        self.hostname: str | None = None
        self.failed_nodes: list[str] = []
        self.deaths: list[str] = []
        self.notes: list[str] = []
        self.measurement: Measurement | None = None
        self.error: str | None = None
        self.started_at = 0.0

    def progress(self) -> PartProgress:
        """Where the part stands, for the run's stored per-part progress."""
        if self.error is not None:
            state = "failed"
        elif self.node_id is None:
            state = "queued"  # waiting for a node of its class (again, after a death)
        else:
            state = "retried" if self.deaths else "running"
        measured = self.measurement
        return PartProgress(
            key=self.model.key,
            execution_provider=self.model.execution_provider,
            state=state,
            # Replayed requests as of its last answered call; a retry starts over (see RayReplay._lost).
            done=len(measured.latencies_ms) if measured is not None else 0,
            total=0,
            hardware_class=self.hardware_class or "",
            hostname=self.hostname or "",
            node_id=self.node_id or "",
            error=self.error or "",
        )

    @property
    def live(self) -> bool:
        return self.error is None

    def fail(self, error: str) -> None:
        self.error, self.pending = error, None


class RayReplay:
    """``shadow.replay.Replay``'s interface over actors on a Ray cluster; use as a context manager."""

    def __init__(
        self,
        models: Sequence[ModelToRun],
        hardware_classes: Sequence[str | None],
        options: ReplayOptions,
        warmup_feeds: Sequence[Feed],
        *,
        address: str | None = None,
    ) -> None:
        import ray

        if not models:
            raise ValueError("`models` must not be empty")
        if len(hardware_classes) != len(models):
            raise ValueError("`hardware_classes` must name one class (or None) per model")
        connect(address)
        self.options = options
        # Named actors show in `ray list actors` under the run they belong to.
        self.run_name = f"inferwatch-shadow-{uuid.uuid4().hex[:8]}"
        self._warmup = ray.put(list(warmup_feeds[: max(options.warmup, options.batch_size)]))
        self._prepare_refs: tuple[Any, Any] | None = None
        self._throughput: list[Feed] = []
        self._chunks: list[Any] = []
        blobs: dict[Path, Any] = {}
        # An actor holds its resources while it lives, and every part of a run lives until the run's last look:
        # were each part to take a whole unit, a node with fewer units than the run has parts of its class
        # would place some and leave the rest waiting for ever. So a run's parts of one class share one unit.
        shares = Counter(
            name
            for model, hardware_class in zip(models, hardware_classes, strict=True)
            for name in _Part(model, hardware_class, None).resources
        )
        self._parts: list[_Part] = []
        for model, hardware_class in zip(models, hardware_classes, strict=True):
            if model.path not in blobs:
                blobs[model.path] = ray.put(Path(model.path).read_bytes())
            part = _Part(model, hardware_class, blobs[model.path])
            part.resources = {name: amount / shares[name] for name, amount in part.resources.items()}
            if not part.resources:
                part.fail(
                    f"{model.key} runs on {model.execution_provider}, whose hardware class is unknown, so no Ray "
                    "resource can place it: name the class in [shadow.provider_hardware] or in the request"
                )
            self._parts.append(part)
        self._last_node_check = 0.0

    def __enter__(self) -> RayReplay:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        # A run that ends on an error (a cancellation among them) does not wait for busy workers to finish.
        self.close(graceful=error_type is None)

    def close(self, *, graceful: bool = True) -> None:
        """Let every worker release its session and model file, then end the actors (at once for any still
        busy, or for all when not ``graceful``)."""
        import ray

        handles = [part.handle for part in self._parts if part.handle is not None]
        closing = [handle.close.remote() for handle in handles] if graceful else []
        if closing:
            ray.wait(closing, num_returns=len(closing), timeout=_CLOSE_S)
        for handle in handles:
            ray.kill(handle, no_restart=True)
        for part in self._parts:
            part.handle = part.pending = part.where_ref = None
        # Workers on this machine that were killed left their model files; others are swept on their nodes.
        shutil.rmtree(scratch_root() / self.run_name, ignore_errors=True)

    # The runner's calls, in its order.

    def run_throughput(self, feeds: Sequence[Feed], progress: Progress | None = None) -> None:
        """Keep the throughput rows; each worker measures them as it starts (see ``run_batch_curve``)."""
        self._throughput = list(feeds)

    def run_batch_curve(self, feeds: Sequence[Feed], progress: Progress | None = None) -> None:
        """Start every part: place its actor, open the session, measure throughput and the batch curve.

        Nothing is awaited here: a worker runs its calls in order, so the first chunk's answer follows these.
        """
        import ray

        self._prepare_refs = (ray.put(self._throughput), ray.put(list(feeds)))
        for part in self._parts:
            if part.live:
                self._start(part)

    def run_requests(
        self, feeds: Sequence[Feed], progress: Progress | None = None, done_before: int = 0, total: int = 0
    ) -> None:
        """Replay one chunk on every live part and wait for all of them (retrying a part whose worker died)."""
        import ray

        if self._prepare_refs is None:
            self.run_batch_curve(feeds[:1])
        self._chunks.append(ray.put(list(feeds)))
        for part in self._parts:
            if part.live and part.handle is not None:
                part.pending = part.handle.replay.remote(self._chunks[-1])
        self._wait(progress, done_before, len(feeds), total or len(feeds))
        baseline = self._parts[0]
        # Without the baseline there is nothing to compare against: as on the local executor, the run fails.
        if not baseline.live:
            raise ReplayError(f"baseline failed: {baseline.error}")
        if baseline.measurement is not None and baseline.measurement.error is not None:
            raise ReplayError(f"baseline failed: {baseline.measurement.error}")

    def measurements(self) -> dict[str, Measurement]:
        """Every part's measurement so far, by model key; a failed part carries its reason."""
        result: dict[str, Measurement] = {}
        for part in self._parts:
            notes = tuple(part.notes)
            node = {"node_id": part.node_id} if part.node_id else {}
            if part.error is not None or part.measurement is None:
                error = part.error or "the worker returned no measurement"
                result[part.model.key] = failed_measurement(
                    part.model.key, part.model.execution_provider, error, node, notes
                )
            else:
                measured = part.measurement
                result[part.model.key] = replace(measured, notes=measured.notes + notes, node={**measured.node, **node})
        return result

    def parts(self) -> list[PartProgress]:
        """Each part's state, progress and node, as of the last answers from its worker."""
        return [part.progress() for part in self._parts]

    # Placing, watching and retrying parts.

    def _start(self, part: _Part) -> None:
        """Create the part's actor on a node of its class (not one it died on) and queue its work so far."""

        assert self._prepare_refs is not None
        options: dict[str, Any] = {
            "name": f"{self.run_name}/{part.model.key}#{len(part.deaths) + 1}",
            # The class's unit is what admits parts to a node; CPUs would need one per part and can run out.
            "num_cpus": 0,
            "num_gpus": part.resources.get("GPU", 0),
            "resources": {name: amount for name, amount in part.resources.items() if name != "GPU"},
            "max_restarts": 0,
            "max_task_retries": 0,
        }
        if part.failed_nodes:
            options["label_selector"] = {"ray.io/node-id": f"!in({','.join(part.failed_nodes)})"}
        actor = _remote_worker().options(**options)
        part.handle = actor.remote(
            part.model.key, part.model_ref, part.model.execution_provider, self.options, self.run_name
        )
        part.node_id = part.hostname = None
        part.started_at = time.monotonic()
        part.where_ref = part.handle.where.options(concurrency_group=PROBE_GROUP).remote()
        part.pending = part.handle.prepare.remote(self._warmup, *self._prepare_refs)
        # A retry replays every chunk so far: its measurement must cover the same requests as the others'.
        for chunk in self._chunks:
            part.pending = part.handle.replay.remote(chunk)

    def _wait(self, progress: Progress | None, done_before: int, size: int, total: int) -> None:
        import ray

        while True:
            waiting = {part.pending: part for part in self._parts if part.live and part.pending is not None}
            if not waiting:
                return
            ready, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=_POLL_S)
            self._locate()
            for ref in ready:
                self._collect(waiting[ref], ref)
            if time.monotonic() - self._last_node_check >= _NODE_CHECK_S:
                self._last_node_check = time.monotonic()
                self._fail_unplaceable()
            if progress is not None:
                finished = sum(1 for part in self._parts if part.pending is None)
                # A cancelled run's progress callback raises: close() then ends the workers.
                progress(done_before + size * finished // len(self._parts), total, "replay")

    def _collect(self, part: _Part, ref: Any) -> None:
        import ray

        part.pending = None
        try:
            part.measurement = ray.get(ref)
        except ray.exceptions.RayActorError as error:
            self._lost(part, error)
        except ray.exceptions.RayError as error:  # an error raised in the worker's own code: not worth a retry
            part.fail(f"{type(error).__name__}: {error}")

    def _locate(self) -> None:
        """Learn which node each newly placed part runs on (a worker answers ``where`` as soon as it starts)."""
        import ray

        for part in self._parts:
            if part.where_ref is None or part.node_id is not None:
                continue
            ready, _ = ray.wait([part.where_ref], timeout=0)
            if ready:
                try:
                    part.node_id, part.hostname, _ = ray.get(part.where_ref)
                except ray.exceptions.RayError:
                    part.where_ref = None  # died before it answered: its replay call reports why

    def _lost(self, part: _Part, error: BaseException) -> None:
        """A part's worker died: retry once elsewhere when a node of its class remains, else fail the part."""
        import ray

        if part.node_id is None and part.where_ref is not None:
            # It may have said where it runs just before it died: that node is the one to avoid.
            with contextlib.suppress(ray.exceptions.RayError):
                part.node_id, part.hostname, _ = ray.get(part.where_ref, timeout=_POLL_S)
        reason = _death_reason(error)
        where = f"node {part.hostname} ({part.node_id[:12]})" if part.node_id and part.hostname else "its node"
        part.deaths.append(f"on {where}: {reason}")
        if part.node_id:
            part.failed_nodes.append(part.node_id)
        part.handle = part.where_ref = part.measurement = None
        if len(part.deaths) > 1:
            deaths = "; ".join(part.deaths)
            part.fail(f"the worker of {part.model.key} died twice, so it is not retried again: {deaths}")
        elif not self._has_node(part):
            part.fail(
                f"the worker of {part.model.key} died mid-run on {where}: {reason}; "
                f"no other node of {part.wants} remains to retry on"
            )
        else:
            part.notes.append(f"retried on another node of {part.wants} after its worker died on {where}: {reason}")
            self._start(part)

    def _fail_unplaceable(self) -> None:
        """Fail each part still waiting for a node when its class has none (left, or never there)."""
        import ray

        for part in self._parts:
            if not (part.live and part.handle is not None and part.node_id is None):
                continue
            if self._has_node(part):
                waited = time.monotonic() - part.started_at
                if waited > PLACEMENT_TIMEOUT_S:
                    # Nodes of the class exist but are busy (other runs hold their units): fail rather than hang.
                    ray.kill(part.handle, no_restart=True)
                    part.handle = part.where_ref = None
                    part.fail(
                        f"no free worker for {part.wants} within {waited:.0f} s: its nodes are busy with other runs"
                    )
            else:
                ray.kill(part.handle, no_restart=True)
                part.handle = part.where_ref = None
                if part.deaths:
                    part.fail(f"no node of {part.wants} remains to retry {part.model.key} on; " + part.deaths[0])
                else:
                    wanted = " and ".join(sorted(part.resources))
                    part.fail(f"no worker for {part.wants}: no node of the cluster has {wanted}")

    def _has_node(self, part: _Part) -> bool:
        """Whether an alive node (not one the part died on) has every resource the part asks for."""
        import ray

        return any(
            node.get("Alive")
            and node.get("NodeID") not in part.failed_nodes
            and all(node.get("Resources", {}).get(name, 0) >= amount for name, amount in part.resources.items())
            for node in ray.nodes()  # type: ignore[no-untyped-call]
        )
