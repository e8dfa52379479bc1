"""Drift speed: inferwatch's KSDrift against a plain scipy loop and Evidently's DataDriftPreset, same data, same run.

20 numeric features, N reference and N current rows, 5 shifted (f00 +0.5 sd, f01 +0.2 sd, f02 sd x1.5,
f03 +0.05 sd, f04 10% of rows moved to a +3 sd mode), as in research/bench_drift_anchors.py. Each method runs in
a fresh child process that loads the same .npy files; "RSS MiB" is the child's peak-RSS growth after loading.
Evidently runs from a separate venv (it needs pandas<3): ``$EVIDENTLY_PYTHON`` or /tmp/evidently-venv/bin/python;
without it the row is skipped with a note.

    .venv/bin/python benchmarks/drift_speed.py --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = 20
SHIFTED = ("f00", "f01", "f02", "f03", "f04")
COLUMNS = [f"f{j:02d}" for j in range(FEATURES)]
EVIDENTLY_PYTHON = Path(os.environ.get("EVIDENTLY_PYTHON", "/tmp/evidently-venv/bin/python"))
METHODS = ("inferwatch KSDrift", "scipy ks_2samp loop + Bonferroni", "scipy wasserstein/std loop", "evidently")


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current (rows x 20) with f00-f04 shifted."""
    rng = np.random.default_rng(seed)
    loc, scale = rng.uniform(-5, 5, FEATURES), rng.uniform(0.5, 3.0, FEATURES)
    ref, cur = rng.standard_normal((rows, FEATURES)), rng.standard_normal((rows, FEATURES))
    cur[:, 0] += 0.5
    cur[:, 1] += 0.2
    cur[:, 2] *= 1.5
    cur[:, 3] += 0.05
    moved = rng.choice(rows, rows // 10, replace=False)
    cur[moved, 4] = 3.0 + 0.5 * rng.standard_normal(moved.size)
    return ref * scale + loc, cur * scale + loc


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, data: Path) -> dict[str, Any]:
    """Run one method on the saved data; returns seconds, RSS growth and flagged columns."""
    ref, cur = np.load(data / "ref.npy"), np.load(data / "cur.npy")
    _warm_imports(method)  # import cost is not what we compare
    if method == "evidently":
        import pandas as pd  # type: ignore[import-not-found,import-untyped,unused-ignore]  # only in the Evidently venv

        frames = pd.DataFrame(ref, columns=COLUMNS), pd.DataFrame(cur, columns=COLUMNS)
    base = _rss_mib()
    start = time.perf_counter()
    if method == "inferwatch KSDrift":
        from detectors.drift import KSDrift

        report = (
            KSDrift()
            .fit({c: ref[:, j] for j, c in enumerate(COLUMNS)})
            .score({c: cur[:, j] for j, c in enumerate(COLUMNS)})
        )
        flagged = list(report.drifted_features)
    elif method == "scipy ks_2samp loop + Bonferroni":
        from scipy import stats

        flagged = [c for j, c in enumerate(COLUMNS) if stats.ks_2samp(ref[:, j], cur[:, j]).pvalue < 0.05 / FEATURES]
    elif method == "scipy wasserstein/std loop":
        from scipy import stats

        flagged = [
            c
            for j, c in enumerate(COLUMNS)
            if stats.wasserstein_distance(ref[:, j], cur[:, j]) / ref[:, j].std() >= 0.1
        ]
    else:
        flagged = _evidently(*frames)
    return {"seconds": time.perf_counter() - start, "rss_mib": _rss_mib() - base, "flagged": flagged}


def _warm_imports(method: str) -> None:
    if method == "evidently":
        import evidently.presets  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
    elif method.startswith("inferwatch"):
        import detectors.drift  # noqa: F401
    else:
        import scipy.stats  # noqa: F401


def _evidently(ref: Any, cur: Any) -> list[str]:
    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found,import-untyped,unused-ignore]

    definition = DataDefinition(numerical_columns=COLUMNS)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    flagged = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = float(metric["value"]), config["threshold"]
            p_value_test = config.get("method", "").endswith("p_value")
            if (value <= threshold) if p_value_test else (value >= threshold):
                flagged.append(config["column"])
    return sorted(flagged)


def run_child(method: str, data: Path) -> dict[str, Any] | str:
    """The child's result, or why there is none."""
    python = str(EVIDENTLY_PYTHON) if method == "evidently" else sys.executable
    if method == "evidently" and not EVIDENTLY_PYTHON.exists():
        return f"skipped: no Evidently venv at {EVIDENTLY_PYTHON}"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    command = [python, __file__, "--child", method, "--data", str(data)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Generate data per size, run every method, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", choices=METHODS)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data)))
        return
    header = f"{'rows':>9}  {'method':<34} {'seconds':>8} {'x scipy':>8} {'x evid.':>8} {'RSS MiB':>8} "
    header += f"{'data MiB':>8}  flagged"
    print(header)
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder)
            ref, cur = make_data(rows)
            np.save(data / "ref.npy", ref)
            np.save(data / "cur.npy", cur)
            data_mib = (ref.nbytes + cur.nbytes) / 2**20
            del ref, cur
            results = {method: run_child(method, data) for method in METHODS}
        scipy_s = _seconds(results["scipy ks_2samp loop + Bonferroni"])
        evidently_s = _seconds(results["evidently"])
        for method, result in results.items():
            if isinstance(result, str):
                print(f"{rows:>9}  {method:<34} {result}")
                continue
            flagged = result["flagged"]
            verdict = "= truth" if tuple(flagged) == SHIFTED else ",".join(flagged)
            speedups = [
                f"{other / result['seconds']:>8.1f}" if other else f"{'-':>8}" for other in (scipy_s, evidently_s)
            ]
            print(
                f"{rows:>9}  {method:<34} {result['seconds']:>8.2f} {speedups[0]} {speedups[1]} "
                f"{result['rss_mib']:>8.0f} {data_mib:>8.0f}  {verdict}"
            )
    print(f"truth: {', '.join(SHIFTED)}; 'x scipy'/'x evid.' = that baseline's seconds over this row's")


def _seconds(result: dict[str, Any] | str) -> float | None:
    return None if isinstance(result, str) else float(result["seconds"])


if __name__ == "__main__":
    main()
