"""The Ray executor on a real three-node local cluster: placement by hardware class, dead workers, missing
classes, cancellation, and the same verdicts as the local executor on the same recorded traffic."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shadow.errors import ReplayError, RunCancelledError
from shadow.replay import PartsSnapshot, Progress, ReplayOptions
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.variants import VariantSpec
from tests.shadow.models import BuiltModel
from tests.shadow.ray_cluster import RayTestCluster, kill_worker_of, shadow_actors_left

# Shorter throughput rounds and batch curve than a real run's: these tests are about placement, not speed.
_QUICK = ReplayOptions(throughput_rounds=2, round_seconds=0.02, curve_max_batch=8, curve_seconds=0.01)
# The baseline is registered as a cpu-a model; variants name the class they are judged for.
_PRICES = {"cpu-a": 0.10, "cpu-b": 0.08}


def _ray(options: ShadowOptions, cluster: RayTestCluster) -> ShadowOptions:
    return replace(options, executor="ray", ray_address=cluster.address)


def test_a_run_is_spread_over_both_classes_and_carries_each_nodes_hardware(
    ray_cluster: RayTestCluster, tiny: BuiltModel
) -> None:
    """Each part runs on a node of its class; its result names that node and its CPU, flags and ORT."""
    options = ShadowOptions(
        replay=_QUICK,
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
        assert measurement.node["cpu_model"]
        assert measurement.node["onnxruntime"]
        assert measurement.requests == result.requests_replayed
    assert shadow_actors_left() == []


def test_the_same_recorded_traffic_gets_the_same_verdicts_as_on_the_local_executor(
    ray_cluster: RayTestCluster, extreme: BuiltModel
) -> None:
    """Comparisons (agreement and its bound, accuracy) and quality verdicts equal the local run's; int8 is kept
    for quality on both."""
    options = ShadowOptions(
        replay=_QUICK,
        variants=(
            VariantSpec("int8-dynamic", hardware_class="cpu-a"),
            VariantSpec("int8-static", hardware_class="cpu-b"),
            VariantSpec("fp16", hardware_class="cpu-b"),
        ),
        hardware_class="cpu-a",
        prices=_PRICES,
        # When a verdict settles early depends on measured latency, which differs from run to run; the quality
        # judgement of the same outputs must not.
        early_stop=False,
    )
    inputs = recorded_from_feeds(extreme.feeds())
    local = run_shadow(extreme.path, inputs, options)
    remote = run_shadow(extreme.path, inputs, _ray(options, ray_cluster))
    assert [item.key for item in remote.results] == [item.key for item in local.results]
    assert (remote.requests_replayed, remote.looks_taken) == (local.requests_replayed, local.looks_taken)
    for mine, theirs in zip(remote.variants, local.variants, strict=True):
        assert mine.verdict is not None
        assert theirs.verdict is not None
        assert mine.comparison == theirs.comparison, mine.key
        assert mine.verdict.quality == theirs.verdict.quality, mine.key
    # A verdict that quality settles is the same decision on both; fp16's may rest on latency, measured apart.
    decisions = {item.key: (item.verdict.quality, item.verdict.decision) for item in remote.variants if item.verdict}
    assert decisions["int8-dynamic"] == decisions["int8-static"] == ("fail", "keep")


def test_more_parts_of_a_class_than_its_node_has_units_still_run(ray_cluster: RayTestCluster, tiny: BuiltModel) -> None:
    """cpu-b's one node has 3 units; a run with 4 parts there shares one unit instead of waiting for ever."""
    options = ShadowOptions(
        replay=_QUICK,
        variants=tuple(VariantSpec(kind) for kind in ("int8-dynamic", "int8-static", "fp16")),
        hardware_class="cpu-b",
        looks=1,
    )
    result = run_shadow(tiny.path, recorded_from_feeds(tiny.feeds(100), tiny.labels), _ray(options, ray_cluster))
    assert len(result.results) == 4
    for item in result.results:
        assert item.measurement.error is None, item.measurement.error
        assert item.measurement.node["node_id"] == ray_cluster.nodes["cpu-b"][0]


def test_a_class_with_no_node_is_reported_and_the_rest_of_the_run_goes_on(
    ray_cluster: RayTestCluster, tiny: BuiltModel
) -> None:
    """A variant for nvidia-l4 on a cluster without one: "no worker for nvidia-l4"; the others are judged."""
    options = ShadowOptions(
        replay=_QUICK,
        variants=(VariantSpec("fp16", hardware_class="nvidia-l4"), VariantSpec("int8-dynamic", hardware_class="cpu-b")),
        hardware_class="cpu-a",
        prices=_PRICES,
        looks=1,
    )
    snapshots: list[PartsSnapshot] = []
    result = run_shadow(
        tiny.path,
        recorded_from_feeds(tiny.feeds(100), tiny.labels),
        _ray(options, ray_cluster),
        watch_parts=snapshots.append,
    )
    fp16 = next(item for item in result.variants if item.key == "fp16")
    assert fp16.measurement.error is not None
    assert "no worker for nvidia-l4" in fp16.measurement.error
    parts = {part.key: part for part in snapshots[0]()}
    assert (parts["fp16"].state, parts["fp16"].done, parts["fp16"].node_id) == ("failed", 0, "")
    assert parts["fp16"].error == fp16.measurement.error
    assert parts["int8-dynamic"].finished().state == "done"
    assert "no worker for nvidia-l4" in result.recommendation.explanation
    int8 = next(item for item in result.variants if item.key == "int8-dynamic")
    assert int8.measurement.error is None
    assert int8.verdict is not None
    assert int8.measurement.requests == result.requests_replayed


def test_a_baseline_class_with_no_node_fails_the_run_naming_it(ray_cluster: RayTestCluster, tiny: BuiltModel) -> None:
    """Without the baseline there is nothing to compare against: the run fails with "no worker for cpu-z"."""
    options = ShadowOptions(
        replay=_QUICK, variants=(VariantSpec("fp16", hardware_class="cpu-a"),), hardware_class="cpu-z"
    )
    with pytest.raises(ReplayError, match="baseline failed: no worker for cpu-z"):
        run_shadow(tiny.path, recorded_from_feeds(tiny.feeds(60)), _ray(options, ray_cluster))
    assert shadow_actors_left() == []


def _kill_mid_run(part_key: str, killed: list[str]) -> Progress:
    """A progress callback that kills ``part_key``'s worker while the parts replay."""

    def progress(done: int, total: int, phase: str) -> None:
        if phase == "replay" and not killed:
            killed.append(kill_worker_of(part_key))

    return progress


def test_a_worker_killed_mid_run_is_retried_once_on_another_node_of_its_class(
    ray_cluster: RayTestCluster, tiny: BuiltModel
) -> None:
    """cpu-a has two nodes: the killed part reruns on the other one, says why, and is judged like the rest."""
    options = ShadowOptions(
        replay=_QUICK,
        variants=(VariantSpec("fp16", hardware_class="cpu-a"), VariantSpec("int8-dynamic", hardware_class="cpu-b")),
        hardware_class="cpu-a",
        prices=_PRICES,
        early_stop=False,
    )
    killed: list[str] = []
    snapshots: list[PartsSnapshot] = []
    result = run_shadow(
        tiny.path,
        recorded_from_feeds(tiny.feeds(120), tiny.labels),
        _ray(options, ray_cluster),
        progress=_kill_mid_run("fp16", killed),
        watch_parts=snapshots.append,
    )
    assert killed, "the worker was never killed"
    # What the run's stored per-part progress says at its end: the retried part, on its second node.
    parts = {part.key: part for part in snapshots[0]()}
    assert (parts["fp16"].state, parts["fp16"].done, parts["fp16"].hardware_class) == ("retried", 120, "cpu-a")
    assert parts["fp16"].node_id in ray_cluster.nodes["cpu-a"]
    assert parts["fp16"].node_id != killed[0]
    assert parts["fp16"].hostname
    assert {parts["baseline"].state, parts["int8-dynamic"].state} == {"running"}
    assert parts["int8-dynamic"].node_id in ray_cluster.nodes["cpu-b"]
    fp16 = next(item for item in result.variants if item.key == "fp16")
    assert fp16.measurement.error is None, fp16.measurement.error
    assert fp16.measurement.node["node_id"] in ray_cluster.nodes["cpu-a"]
    assert fp16.measurement.node["node_id"] != killed[0]
    retried = [note for note in fp16.measurement.notes if note.startswith("retried on another node of cpu-a")]
    assert retried
    assert "worker process has died" in retried[0]
    assert fp16.measurement.requests == result.requests_replayed == 120
    assert fp16.verdict is not None
    assert fp16.comparison is not None


def test_a_worker_killed_where_no_other_node_of_its_class_remains_fails_only_its_part(
    ray_cluster: RayTestCluster, tiny: BuiltModel
) -> None:
    """cpu-b has one node: the killed part fails with the reason; the baseline and the cpu-a part finish."""
    options = ShadowOptions(
        replay=_QUICK,
        variants=(VariantSpec("fp16", hardware_class="cpu-a"), VariantSpec("int8-dynamic", hardware_class="cpu-b")),
        hardware_class="cpu-a",
        prices=_PRICES,
        early_stop=False,
    )
    killed: list[str] = []
    result = run_shadow(
        tiny.path,
        recorded_from_feeds(tiny.feeds(120), tiny.labels),
        _ray(options, ray_cluster),
        progress=_kill_mid_run("int8-dynamic", killed),
    )
    assert killed == [ray_cluster.nodes["cpu-b"][0]]
    int8 = next(item for item in result.variants if item.key == "int8-dynamic")
    assert int8.measurement.error is not None
    assert "died mid-run" in int8.measurement.error
    assert "worker process has died" in int8.measurement.error
    assert "no other node of cpu-b remains" in int8.measurement.error
    assert "int8-dynamic" in result.recommendation.explanation
    fp16 = next(item for item in result.variants if item.key == "fp16")
    assert fp16.measurement.error is None
    assert fp16.verdict is not None


def test_a_cancelled_run_stops_and_ends_its_workers(ray_cluster: RayTestCluster, tiny: BuiltModel) -> None:
    """Cancellation (raised by the service's progress report) stops the run mid-way; no actor is left."""
    # A real run's throughput rounds and batch curve: the workers are still busy at the first report.
    options = ShadowOptions(
        variants=(VariantSpec("fp16", hardware_class="cpu-b"),), hardware_class="cpu-a", early_stop=False
    )
    seen: list[int] = []

    def progress(done: int, total: int, phase: str) -> None:
        if phase == "replay":
            seen.append(done)
            raise RunCancelledError("run r1 was cancelled")

    with pytest.raises(RunCancelledError):
        run_shadow(tiny.path, recorded_from_feeds(tiny.feeds(200)), _ray(options, ray_cluster), progress=progress)
    assert len(seen) == 1
    assert seen[0] < 200
    assert shadow_actors_left() == []
