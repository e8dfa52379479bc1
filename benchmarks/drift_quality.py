"""Drift quality: detection and false-alarm rates on scikit-learn's bundled data sets, next to Evidently.

Scenarios (each from a random half/half split of one data set, per seed): ``null`` (no change), ``selection``
(current keeps rows with the target feature above its median, and only 30% of the others), ``noise`` (Gaussian
noise of 0.5 sd added to the target feature), ``rescale`` (target feature x1.5), ``category_swap`` (a
categorical quartile band of the target feature with two labels swapped in the current half), ``missing``
(20% of the target feature set missing in current). Rates are over ``--seeds`` splits. "dataset" is the
dataset-level verdict (ours: anything drifted after BH; Evidently: its DataDriftPreset share >= 0.5);
"column" is whether the changed column itself was flagged (Evidently: per-column test at its defaults, which
are uncorrected). Evidently runs in its own venv (``$EVIDENTLY_PYTHON`` or /tmp/evidently-venv/bin/python).

    .venv/bin/python benchmarks/drift_quality.py --seeds 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

EVIDENTLY_PYTHON = Path(os.environ.get("EVIDENTLY_PYTHON", "/tmp/evidently-venv/bin/python"))
SCENARIOS = ("null", "selection", "noise", "rescale", "category_swap", "missing")
DATASETS = ("breast_cancer", "wine", "diabetes")
BAND = "band"


def load(name: str) -> tuple[np.ndarray, list[str]]:
    """A bundled scikit-learn data set's feature matrix and column names (nothing is downloaded)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    return np.asarray(bunch.data, dtype=np.float64), [str(c).replace(" ", "_") for c in bunch.feature_names]


def make_split(x: np.ndarray, scenario: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference and current numeric halves plus their categorical band columns, with the scenario applied to col 0."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    ref, cur = x[order[: len(x) // 2]].copy(), x[order[len(x) // 2 :]].copy()
    quartiles = np.quantile(ref[:, 0], [0.25, 0.5, 0.75])
    if scenario == "selection":
        keep = (cur[:, 0] > np.median(x[:, 0])) | (rng.random(len(cur)) < 0.3)
        cur = cur[keep]
    elif scenario == "noise":
        cur[:, 0] += rng.normal(0, 0.5 * ref[:, 0].std(), len(cur))
    elif scenario == "rescale":
        cur[:, 0] *= 1.5
    elif scenario == "missing":
        cur[rng.random(len(cur)) < 0.2, 0] = np.nan
    ref_band = np.array(["q1", "q2", "q3", "q4"], dtype=object)[np.searchsorted(quartiles, ref[:, 0])]
    cur_band = np.array(["q1", "q2", "q3", "q4"], dtype=object)[np.searchsorted(quartiles, np.nan_to_num(cur[:, 0]))]
    if scenario == "category_swap":
        cur_band = np.where(cur_band == "q1", "q4", np.where(cur_band == "q4", "q1", cur_band)).astype(object)
        cur_band[cur_band == "q2"] = "q1"
    return ref, cur, ref_band, cur_band


def ours(
    ref: np.ndarray, cur: np.ndarray, ref_band: np.ndarray, cur_band: np.ndarray, names: list[str]
) -> tuple[bool, bool, bool]:
    """(dataset drift, column 0 flagged, band flagged) from inferwatch's default detector."""
    from detectors.drift import KSDrift

    reference = {name: ref[:, j] for j, name in enumerate(names)} | {BAND: ref_band}
    current = {name: cur[:, j] for j, name in enumerate(names)} | {BAND: cur_band}
    report = KSDrift(workers=1, min_count=20).fit(reference).score(current)
    return report.dataset_drift, report.feature(names[0]).drifted, report.feature(BAND).drifted


def evidently_child(path: Path) -> list[list[bool]]:
    """Run Evidently's DataDriftPreset on every saved split; (dataset drift, column 0 flagged, band flagged) each."""
    import pandas as pd  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found,unused-ignore]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found,unused-ignore]

    saved = np.load(path, allow_pickle=True)
    names = [str(n) for n in saved["names"]]
    definition = DataDefinition(numerical_columns=names, categorical_columns=[BAND])
    out = []
    for i in range(int(saved["count"])):
        frames = []
        for side in ("ref", "cur"):
            frame = pd.DataFrame(saved[f"{side}{i}"], columns=names)
            frame[BAND] = saved[f"{side}_band{i}"]
            frames.append(Dataset.from_pandas(frame, data_definition=definition))
        snapshot = Report([DataDriftPreset()]).run(current_data=frames[1], reference_data=frames[0])
        flags, share = {}, 0.0
        for metric in snapshot.dict()["metrics"]:
            config = metric.get("config", {})
            kind = config.get("type", "")
            if kind.endswith("DriftedColumnsCount"):
                share = float(metric["value"]["share"])
            elif kind.endswith("ValueDrift"):
                value, threshold = float(metric["value"]), config["threshold"]
                p_test = config.get("method", "").endswith("p_value")
                flags[config["column"]] = bool(value <= threshold if p_test else value >= threshold)
        out.append([share >= 0.5, flags.get(names[0], False), flags.get(BAND, False)])
    return out


def main() -> None:
    """Every data set x scenario x seed, ours and Evidently's; print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--evidently-child", type=Path)
    args = parser.parse_args()
    if args.evidently_child:
        print(json.dumps(evidently_child(args.evidently_child)))
        return
    print(
        f"{'data set':<14} {'scenario':<14} {'ours dataset':>12} {'ours column':>11} "
        f"{'evid. dataset':>13} {'evid. column':>12}"
    )
    for dataset in args.datasets:
        x, names = load(dataset)
        splits = {(s, seed): make_split(x, s, seed) for s in SCENARIOS for seed in range(args.seeds)}
        mine = {key: ours(*split, names) for key, split in splits.items()}
        theirs = _run_evidently(splits, names)
        for scenario in SCENARIOS:
            column = 2 if scenario == "category_swap" else 1
            rows = [mine[(scenario, seed)] for seed in range(args.seeds)]
            cells = [f"{np.mean([r[0] for r in rows]):>12.0%}", f"{np.mean([r[column] for r in rows]):>11.0%}"]
            if theirs is None:
                cells += [f"{'n/a':>13}", f"{'n/a':>12}"]
            else:
                evid = [theirs[(scenario, seed)] for seed in range(args.seeds)]
                cells += [f"{np.mean([r[0] for r in evid]):>13.0%}", f"{np.mean([r[column] for r in evid]):>12.0%}"]
            print(f"{dataset:<14} {scenario:<14} {' '.join(cells)}")
    print("null rows are false-alarm rates; the others detection rates. column = the changed column (band for swaps).")


def _run_evidently(splits: dict[tuple[str, int], Any], names: list[str]) -> dict[tuple[str, int], list[bool]] | None:
    if not EVIDENTLY_PYTHON.exists():
        print(f"(Evidently skipped: no venv at {EVIDENTLY_PYTHON})", file=sys.stderr)
        return None
    keys = list(splits)
    arrays: dict[str, Any] = {"names": np.array(names, dtype=object), "count": len(keys)}
    for i, key in enumerate(keys):
        ref, cur, ref_band, cur_band = splits[key]
        arrays |= {f"ref{i}": ref, f"cur{i}": cur, f"ref_band{i}": ref_band, f"cur_band{i}": cur_band}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "splits.npz"
        np.savez(path, **arrays)
        command = [str(EVIDENTLY_PYTHON), __file__, "--evidently-child", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"(Evidently failed: {done.stderr.strip()[-300:]})", file=sys.stderr)
        return None
    flags = json.loads(done.stdout.strip().splitlines()[-1])
    return dict(zip(keys, flags, strict=True))


if __name__ == "__main__":
    main()
