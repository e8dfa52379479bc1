"""A small multi-node Ray cluster on this machine, started once per test session for the Ray executor's tests.

Three nodes, as ``ray start`` would make them on three machines (Ray's own ``cluster_utils.Cluster`` starts a
raylet per node): the head and a second node advertise the hardware class ``cpu-a``, a third ``cpu-b``. So a
run can be spread over two classes, a worker of ``cpu-a`` can die and be retried on the other ``cpu-a`` node,
and one of ``cpu-b`` has nowhere else to go. The logical CPU counts are labels for the scheduler, not cores.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# Ray's smallest object store is 75 MiB; the runs here put a few MiB in it.
_OBJECT_STORE_BYTES = 80 * 1024 * 1024
# Parts of one class that may run at once on one node (each holds one unit while its actor lives).
_SLOTS = 3


@dataclass(frozen=True)
class RayTestCluster:
    """The running cluster: its address and the node ids of each hardware class."""

    address: str
    nodes: dict[str, tuple[str, ...]]


def _node_id(node: Any) -> str:
    return str(node.node_id)


def ray_or_skip() -> Any:
    """Ray's module; a missing Ray skips the test here and fails it under CI (it is in the test extra)."""
    try:
        import ray
    except ImportError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Ray is required under CI (pip install -e '.[test]'): {error}", pytrace=False)
        pytest.skip(f"Ray is not installed: {error}")
    return ray


def start_ray_cluster() -> Iterator[RayTestCluster]:
    """Start the three nodes, connect this process as the driver, and shut everything down afterwards."""
    ray = ray_or_skip()
    from ray.cluster_utils import Cluster

    node_args: dict[str, Any] = {"num_cpus": 2 * _SLOTS, "object_store_memory": _OBJECT_STORE_BYTES}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={**node_args, "resources": {"hw:cpu-a": _SLOTS}, "include_dashboard": False},
    )
    try:
        second = cluster.add_node(**node_args, resources={"hw:cpu-a": _SLOTS})
        other = cluster.add_node(**node_args, resources={"hw:cpu-b": _SLOTS})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        yield RayTestCluster(
            cluster.address,
            {"cpu-a": (_node_id(cluster.head_node), _node_id(second)), "cpu-b": (_node_id(other),)},
        )
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def kill_worker_of(part_key: str, timeout_s: float = 30.0) -> str:
    """SIGKILL the worker process of the live part ``part_key`` (as the OOM killer would); returns its node id.

    Its ``where`` answers from the probe thread, so this works while the worker is busy replaying.
    """
    import ray

    from shadow.cluster import PROBE_GROUP

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in ray.util.list_named_actors(all_namespaces=True):
            if entry["name"].endswith(f"/{part_key}#1"):
                actor = ray.get_actor(entry["name"], entry["namespace"])
                node_id: str
                pid: int
                node_id, _, pid = ray.get(actor.where.options(concurrency_group=PROBE_GROUP).remote())
                os.kill(pid, signal.SIGKILL)
                return str(node_id)
        time.sleep(0.1)
    raise AssertionError(f"no worker for part {part_key!r} appeared")


def shadow_actors_left() -> list[str]:
    """Named shadow actors still alive in the cluster."""
    import ray

    return [entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)]
