"""The shadow runner's replay overhead against a raw ``InferenceSession.run`` loop on the same inputs.

Named baseline: a plain Python loop calling ``session.run(None, feed)`` per request, with the same session
options (1 intra-op thread, sequential). Compared: ``shadow.replay.Replay.run_requests`` for the baseline
model alone (per-call timing, output capture, rotation). Rounds alternate; the table shows medians.
Goal: overhead <= 10%. Run: ``.venv/bin/python benchmarks/shadow_overhead.py``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import onnxruntime

from shadow.replay import ModelToRun, Replay, ReplayOptions
from tests.shadow.models import BuiltModel, digits_mlp, extreme_range_mlp


def _raw_session(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(model: BuiltModel, requests: int, rounds: int) -> tuple[float, float]:
    """Median seconds per request of the raw loop and of the runner's replay."""
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
    return statistics.median(raw_times), statistics.median(runner_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        models = {"digits_mlp128": digits_mlp(Path(scratch)), "extreme_mlp16x32": extreme_range_mlp(Path(scratch), 800)}
        print(f"onnxruntime {onnxruntime.__version__}, {args.requests} requests x {args.rounds} rounds, batch 1")
        print("| model | raw session.run µs/req | runner replay µs/req | overhead |")
        print("|---|---|---|---|")
        for name, model in models.items():
            raw, runner = measure(model, args.requests, args.rounds)
            print(f"| {name} | {raw * 1e6:.2f} | {runner * 1e6:.2f} | {(runner / raw - 1) * 100:+.1f}% |")


if __name__ == "__main__":
    main()
