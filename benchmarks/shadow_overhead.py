"""The shadow runner's overhead against raw onnxruntime on the same inputs: the replay loop, and a whole run.

Named baselines, with the same session options (1 intra-op thread, sequential):

* replay: a plain Python loop calling ``session.run(None, feed)`` per request, against
  ``shadow.replay.Replay.run_requests`` for the baseline model alone (per-call timing, output capture,
  rotation);
* whole run: the same ONNX Runtime work done by hand (open two sessions, 20 warm-up calls and one
  throughput batch each, one untimed pass over the batches, five interleaved timed rounds of >= 0.1 s at
  batch 32 over up to 512 rows, the batch curve at 1, 2, 4, ... 64 rows for 0.05 s per size, every request
  at batch 1 through both), against ``shadow.runner.run_shadow`` with one user variant (a byte copy of the baseline, so
  nothing is built) and early stop off: artifact checks, replay, comparison statistics and bounds,
  the recommendation and the result.

* Ray row: a realistic run (``--ray-requests`` 1,000 requests, the three built-in variants, early stop off)
  with ``[shadow] executor = "ray"`` on a one-node Ray cluster started here (``hw:cpu``: the four parts
  replay side by side), against the same run with the local executor: the whole run's extra time (starting a worker per
  model, shipping models and inputs through the object store, parallel parts). Skipped without Ray.

Rounds alternate, and the table shows the best round of each, as ``timeit`` advises: on a small shared VM,
interference only ever adds time, and medians here moved by 2x between runs of the same code. Goal: overhead
<= 10%.
Run: ``.venv/bin/python benchmarks/shadow_overhead.py``.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from shadow.replay import ModelToRun, Replay, ReplayOptions
from shadow.runner import ShadowOptions, recorded_from_feeds, run_shadow
from shadow.tensors import Feed
from shadow.variants import VariantSpec
from tests.shadow.models import BuiltModel, digits_mlp, extreme_range_mlp

_WARMUP = ReplayOptions().warmup
_BATCH = ReplayOptions().batch_size
_ROUNDS = ReplayOptions().throughput_rounds
_ROUND_SECONDS = ReplayOptions().round_seconds
_CURVE_SIZES = ReplayOptions().curve_sizes
_CURVE_SECONDS = ReplayOptions().curve_seconds
_THROUGHPUT_ROWS = 512


def _raw_session(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure_replay(model: BuiltModel, requests: int, rounds: int) -> tuple[float, float]:
    """Best seconds per request of the raw loop and of the runner's replay."""
    feeds = model.feeds(requests)
    session = _raw_session(model.path)
    for feed in feeds[:50]:
        session.run(None, feed)
    raw_times, runner_times = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        for feed in feeds:
            session.run(None, feed)
        raw_times.append((time.perf_counter() - began) / len(feeds))
        with Replay([ModelToRun("baseline", model.path, "CPUExecutionProvider")], ReplayOptions(), feeds) as replay:
            began = time.perf_counter()
            replay.run_requests(feeds)
            runner_times.append((time.perf_counter() - began) / len(feeds))
    return min(raw_times), min(runner_times)


def _raw_whole(paths: list[Path], input_name: str, rows: np.ndarray, feeds: list[Feed]) -> None:
    """The ONNX Runtime calls a whole run makes, and nothing else."""
    sessions = [_raw_session(path) for path in paths]
    head = rows[:_THROUGHPUT_ROWS]
    batches = [{input_name: head[i : i + _BATCH]} for i in range(0, len(head), _BATCH)]
    for session in sessions:
        for i in range(_WARMUP):
            session.run(None, feeds[i % len(feeds)])
        session.run(None, batches[0])
    for session in sessions:
        for batch in batches:
            session.run(None, batch)
    for _ in range(_ROUNDS):
        for session in sessions:
            calls, began = 0, time.perf_counter()
            while time.perf_counter() - began < _ROUND_SECONDS:
                session.run(None, batches[calls % len(batches)])
                calls += 1
    tiled = np.concatenate([head] * -(-_CURVE_SIZES[-1] // len(head)))
    for size in _CURVE_SIZES:
        cycle = [{input_name: tiled[i : i + size]} for i in range(0, len(tiled) - size + 1, size)]
        for session in sessions:
            session.run(None, cycle[0])
            calls, began = 0, time.perf_counter()
            while time.perf_counter() - began < _CURVE_SECONDS:
                session.run(None, cycle[calls % len(cycle)])
                calls += 1
    for feed in feeds:
        for session in sessions:
            session.run(None, feed)


def measure_whole(model: BuiltModel, requests: int, rounds: int, scratch: Path) -> tuple[float, float]:
    """Best seconds of the hand-written ONNX Runtime work and of a whole ``run_shadow``."""
    copy = scratch / f"{model.path.stem}.copy.onnx"
    shutil.copyfile(model.path, copy)
    feeds = model.feeds(requests)
    inputs = recorded_from_feeds(feeds, model.labels[:requests] if model.labels else None)
    options = ShadowOptions(variants=(VariantSpec("onnx", path=copy),), early_stop=False)
    run_shadow(model.path, inputs, options)  # imports and first-use costs, paid once per process
    raw_times, runner_times = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        _raw_whole([model.path, copy], model.input_name, model.rows[:requests], feeds)
        raw_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        run_shadow(model.path, inputs, options)
        runner_times.append(time.perf_counter() - began)
    return min(raw_times), min(runner_times)


def measure_ray(model: BuiltModel, requests: int, rounds: int) -> tuple[float, float] | None:
    """Best seconds of a whole three-variant run with the local executor and on a one-node Ray cluster."""
    try:
        import ray
    except ImportError:
        return None
    feeds = model.feeds(requests)
    inputs = recorded_from_feeds(feeds, model.labels[:requests] if model.labels else None)
    local = ShadowOptions(early_stop=False)
    remote = replace(local, executor="ray")
    # The baseline's class is "cpu": the run's four parts (baseline + 3 variants) share one unit of it.
    ray.init(num_cpus=4, resources={"hw:cpu": 4}, include_dashboard=False, log_to_driver=False)
    try:
        run_shadow(model.path, inputs, remote)  # the cluster's first workers and imports, paid once
        local_times, ray_times = [], []
        for _ in range(rounds):
            began = time.perf_counter()
            run_shadow(model.path, inputs, local)
            local_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            run_shadow(model.path, inputs, remote)
            ray_times.append(time.perf_counter() - began)
    finally:
        ray.shutdown()
    return min(local_times), min(ray_times)


def wide_mlp(workdir: Path, rows: int = 800, width: int = 1024, layers: int = 3) -> BuiltModel:
    """A synthetic MLP (random weights, onnx.helper) whose calls cost ~1 ms here, like a small production model."""
    rng = np.random.default_rng(0)
    d_in, classes = 64, 10
    sizes = [d_in, *([width] * layers), classes]
    nodes, weights, previous = [], [], "x"
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        weights.append(
            numpy_helper.from_array((rng.standard_normal((fan_in, fan_out)) / fan_in**0.5).astype(np.float32), f"w{i}")
        )
        nodes.append(helper.make_node("MatMul", [previous, f"w{i}"], [f"h{i}"]))
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [f"h{i}"], [f"r{i}"]))
            previous = f"r{i}"
    nodes.append(helper.make_node("Softmax", [f"h{len(sizes) - 2}"], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "wide_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d_in])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        weights,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    path = workdir / "wide_mlp.onnx"
    onnx.save(proto, str(path))
    return BuiltModel(path, "x", rng.standard_normal((rows, d_in)).astype(np.float32), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ray-requests", type=int, default=1000)
    parser.add_argument("--ray-rounds", type=int, default=3)
    parser.add_argument("--only-ray", action="store_true", help="print the Ray row alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        models = {
            "digits_mlp128": digits_mlp(Path(scratch)),
            "extreme_mlp16x32": extreme_range_mlp(Path(scratch), 800),
            "wide_mlp3x1024": wide_mlp(Path(scratch), args.requests),
        }
        print(f"onnxruntime {onnxruntime.__version__}, {args.requests} requests x {args.rounds} rounds, batch 1")
        print("| model | what | baseline | runner | overhead | runner's extra time |")
        print("|---|---|---|---|---|---|")
        ray_model = wide_mlp(Path(scratch), args.ray_requests)
        measured = measure_ray(ray_model, args.ray_requests, args.ray_rounds)
        if measured is None:
            print("| wide_mlp3x1024 | Ray executor | skipped: Ray is not installed (pip install inferwatch[ray]) |||||")
        else:
            local, on_ray = measured
            print(
                f"| wide_mlp3x1024 | whole run, {args.ray_requests} req x 3 variants, s: local executor vs "
                f"one-node Ray | {local:.2f} | {on_ray:.2f} | {(on_ray / local - 1) * 100:+.1f}% "
                f"| {on_ray - local:+.2f} s/run |"
            )
        if args.only_ray:
            return
        for name, model in models.items():
            raw, runner = measure_replay(model, args.requests, args.rounds)
            overhead = (runner / raw - 1) * 100
            extra = (runner - raw) * 1e6
            print(
                f"| {name} | replay loop, µs/req | {raw * 1e6:.2f} | {runner * 1e6:.2f} | {overhead:+.1f}% "
                f"| {extra:+.2f} µs/req |"
            )
            raw, runner = measure_whole(model, args.requests, args.rounds, Path(scratch))
            overhead = (runner / raw - 1) * 100
            extra = (runner - raw) * 1e3
            print(
                f"| {name} | whole run, ms | {raw * 1e3:.1f} | {runner * 1e3:.1f} | {overhead:+.1f}% "
                f"| {extra:+.1f} ms/run |"
            )


if __name__ == "__main__":
    main()
