"""Structured pruning pays on CPU: batch-1 latency of a wide MLP before and after removing hidden units.

Named baseline: the unpruned model, in the same process, same session options (1 intra-op thread,
sequential), calls alternating between the models so that machine load hits both alike. The pruned models
are what ``shadow.prune.prune_model`` writes for the ``prune-25`` and ``prune-50`` variants, ranked on 200
inputs. Goal: latency falls with the units removed (a dense model with fewer units, not zeros).
Run: ``.venv/bin/python benchmarks/shadow_prune.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime

from shadow.prune import prune_model
from tests.shadow.models import relu_mlp


def _session(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = relu_mlp(Path(scratch), widths=(64, args.width, args.width, args.width, 10), rows=400)
        paths = {"baseline": model.path}
        for ratio in (0.25, 0.5):
            paths[f"prune-{ratio:.0%}"] = Path(scratch) / f"prune-{ratio:.2f}.onnx"
            prune_model(model.path, paths[f"prune-{ratio:.0%}"], ratio, model.feeds(200))
        sessions = {name: _session(path) for name, path in paths.items()}
        feeds = model.feeds()
        for session in sessions.values():
            for feed in feeds[:50]:
                session.run(None, feed)
        took: dict[str, list[float]] = {name: [] for name in sessions}
        for i in range(args.calls):
            for name, session in sessions.items():
                began = time.perf_counter()
                session.run(None, feeds[i % len(feeds)])
                took[name].append(time.perf_counter() - began)
        base = float(np.median(took["baseline"]))
        print(f"onnxruntime {onnxruntime.__version__}, MLP 64-{args.width}x3-10, batch 1, {args.calls} calls each")
        print("| model | p50 µs | vs baseline |")
        print("|---|---|---|")
        for name, times in took.items():
            p50 = float(np.median(times))
            print(f"| {name} | {p50 * 1e6:.1f} | x{p50 / base:.2f} |")


if __name__ == "__main__":
    main()
