"""Drift speed: inferwatch's KSDrift against a plain scipy loop and Evidently's DataDriftPreset, same data, same run.

20 numeric features, N reference and N current rows, 5 shifted (f00 +0.5 sd, f01 +0.2 sd, f02 sd x1.5,
f03 +0.05 sd, f04 10% of rows moved to a +3 sd mode), as in research/bench_drift_anchors.py. Each method runs in
a fresh child process that loads the same .npy files; "RSS MiB" is the child's peak-RSS growth after loading.
Evidently runs from a separate venv (it needs pandas<3): ``$EVIDENTLY_PYTHON`` or /tmp/evidently-venv/bin/python;
without it the row is skipped with a note.

    .venv/bin/python benchmarks/drift_speed.py --rows 100000 1000000

``--cli`` instead measures ``inferwatch drift check --json`` end to end (start-up, reading both files, the
test, the JSON) on CSV and Parquet files, against the floor measured in the same run, as in
research/drift-speed-floor.md: a fresh process that reads both files with pyarrow (typed float64 CSV,
Parquet), sorts each column once per side and computes the exact KS distance and its asymptotic p-value, one
thread. Each command runs ``--repeat`` times, alternating; the table shows the minimum (and median) wall
seconds and the peak RSS of the whole process (``/usr/bin/time``'s maximum resident set size, so the
spawning parent's size does not leak in). Goal: CLI within 1.5x of the floor, peak RSS <= 2 x data + 300 MiB.

    .venv/bin/python benchmarks/drift_speed.py --cli --rows 1000000 --repeat 3
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


def floor(paths: list[Path]) -> list[str]:
    """The floor: typed pyarrow read of both files, one sort per column and side, exact KS D, asymptotic p."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]
    from scipy.special import kolmogorov

    def read(path: Path) -> list[np.ndarray]:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            types = {name: pa.float64() for name in COLUMNS}
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types))
        return [table.column(name).to_numpy() for name in COLUMNS]

    reference, current = read(paths[0]), read(paths[1])
    flagged = []
    for name, a, b in zip(COLUMNS, reference, current, strict=True):
        sa, sb = np.sort(a), np.sort(b)
        ends_a = np.flatnonzero(np.append(sa[1:] != sa[:-1], True))
        ends_b = np.flatnonzero(np.append(sb[1:] != sb[:-1], True))
        d1 = (ends_a + 1) / sa.size - np.searchsorted(sb, sa[ends_a], "right") / sb.size
        d2 = np.searchsorted(sa, sb[ends_b], "right") / sa.size - (ends_b + 1) / sb.size
        distance = max(float(np.abs(d1).max()), float(np.abs(d2).max()))
        p_value = float(kolmogorov(distance * np.sqrt(sa.size * sb.size / (sa.size + sb.size))))
        if p_value < 0.05 / FEATURES:
            flagged.append(name)
    return flagged


def _timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS MiB (from /usr/bin/time) and stdout of one command."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, int(done.stderr.strip().splitlines()[-1]) / 1024, done.stdout


def cli_table(rows_list: list[int], repeat: int) -> None:
    """drift check end to end against the read + exact-KS floor, CSV and Parquet, same run."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    cli = [sys.executable, "-m", "collector.cli", "drift", "check", "--json"]
    print(
        f"{'rows':>9} {'format':<8} {'command':<22} {'min s':>7} {'median s':>8} {'x floor':>7} {'peak RSS MiB':>12} "
        f"{'data MiB':>8} {'RSS goal':>8}  flagged"
    )
    for rows in rows_list:
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder)
            ref, cur = make_data(rows)
            data_mib = (ref.nbytes + cur.nbytes) / 2**20
            for name, values in (("ref", ref), ("cur", cur)):
                table = pa.table({c: values[:, j] for j, c in enumerate(COLUMNS)})
                pa_csv.write_csv(table, data / f"{name}.csv")
                pq.write_table(table, data / f"{name}.parquet")
            del ref, cur, table, values
            for fmt in ("csv", "parquet"):
                paths = [str(data / f"ref.{fmt}"), str(data / f"cur.{fmt}")]
                commands = {
                    "floor (read + KS)": [sys.executable, __file__, "--floor", *paths],
                    "inferwatch drift check": [*cli, "--reference", paths[0], "--current", paths[1]],
                }
                runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in commands}
                for _ in range(repeat):
                    for name, command in commands.items():
                        runs[name].append(_timed(command))
                floor_s = min(wall for wall, _, _ in runs["floor (read + KS)"])
                for name, results in runs.items():
                    walls = sorted(wall for wall, _, _ in results)
                    peak = max(rss for _, rss, _ in results)
                    out = results[-1][2]
                    if name.startswith("floor"):
                        flagged = json.loads(out.strip().splitlines()[-1])
                    else:
                        flagged = json.loads(out)["drifted_features"]
                    verdict = "= truth" if sorted(flagged) == list(SHIFTED) else ",".join(flagged)
                    print(
                        f"{rows:>9} {fmt:<8} {name:<22} {walls[0]:>7.2f} {walls[len(walls) // 2]:>8.2f} "
                        f"{walls[0] / floor_s:>7.2f} {peak:>12.0f} {data_mib:>8.0f} {2 * data_mib + 300:>8.0f}"
                        f"  {verdict}"
                    )


def main() -> None:
    """Generate data per size, run every method, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", choices=METHODS)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--cli", action="store_true", help="drift check end to end against the floor")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command with --cli (default 3)")
    parser.add_argument("--floor", nargs=2, type=Path, metavar=("REF", "CUR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data)))
        return
    if args.floor:
        print(json.dumps(floor(args.floor)))
        return
    if args.cli:
        cli_table(args.rows, args.repeat)
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
