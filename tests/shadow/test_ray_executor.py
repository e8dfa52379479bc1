"""The Ray executor on a real three-node local cluster: placement by hardware class, dead workers, missing
classes, cancellation, and the same verdicts as the local executor on the same recorded traffic."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shadow.errors import RunCancelledError
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.result import ShadowResult
from shadow.variants import VariantSpec
from tests.shadow.models import BuiltModel
from tests.shadow.ray_cluster import RayTestCluster, kill_worker_of, shadow_actors_left

# The baseline is registered as a cpu-a model; variants name the class they are judged for.
_PRICES = {"cpu-a": 0.10, "cpu-b": 0.08}


def _ray(options: ShadowOptions, cluster: RayTestCluster) -> ShadowOptions:
    return replace(options, executor="ray", ray_address=cluster.address)


def _by_key(result: ShadowResult) -> dict[str, object]:
    return {item.key: item for item in result.results}


def test_a_run_is_spread_over_both_classes_and_carries_each_nodes_hardware(
    ray_cluster: RayTestCluster, tiny: BuiltModel
) -> None:
    """Each part runs on a node of its class; its result names that node and its CPU, flags and ORT."""
    options = ShadowOptions(
        variants=(VariantSpec("fp16", hardware_class="cpu-a"), VariantSpec("int8-dynamic", hardware_class="cpu-b")),
        hardware_class="cpu-a",
        prices=_PRICES,
        early_stop=False,
        looks=2,
    )
    result = run_shadow(tiny.path, recorded_from_feeds(tiny.feeds(150), tiny.labels), _ray(options, ray_cluster))
    placed = {item.key: item.measurement for item in result.results}
    assert set(placed) == {"baseline", "fp16", "int8-dynamic"}
    for key, cls in (("baseline", "cpu-a"), ("fp16", "cpu-a"), ("int8-dynamic", "cpu-b")):
        measurement = placed[key]
        assert measurement.error is None, measurement.error
        assert measurement.node["node_id"] in ray_cluster.nodes[cls]
        assert measurement.node["cpu_model"] and measurement.node["onnxruntime"]
        assert measurement.requests == result.requests_replayed
    assert shadow_actors_left() == []
