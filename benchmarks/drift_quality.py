"""Drift quality: detection and false-alarm rates on scikit-learn's bundled data sets, next to a baseline and Evidently.

Scenarios (each from a random half/half split of one data set, per seed), in three groups:

* ``issue``, the change issue 14 names at its size (goal: >= 90% at ``--rows 100``): ``noise_few`` (Gaussian
  noise of 1 sd on the first three features), ``spread_few`` (the first three features' spread x1.5 around
  their medians), ``mixed_few`` (noise of 1 sd on the first three features of a mixed-type frame, where
  feature 2 appears only as an amount stored as text, beside a high-cardinality code and a row id);
* ``hard``, one column of 10 to 30 changed by about what the sample can show at 100 rows a side (reported
  with its power, no goal): ``noise`` (0.5 sd of noise on the target feature: its sd grows by 12%),
  ``spread`` (the target feature's spread x1.5 around its median), ``mixed_code`` (as ``mixed_few``, but
  feature 1 too appears only as text, a high-cardinality code whose values barely repeat at 100 rows, so
  one of the three changes is close to invisible);
* ``other``: ``selection`` (current keeps rows with the target feature above its median, and only 30% of the
  others), ``rescale`` (target feature x1.5), ``category_swap`` (a categorical quartile band of the target
  feature with two labels swapped in the current half), ``missing`` (20% of the target feature missing).

``null`` (no change) gives the false-alarm rate. ``--rows N`` keeps N rows a side (the issue's small samples:
``--rows 100``); ``--mixed`` adds to every frame a high-cardinality text code (feature 1 written as text), an
amount stored as text (feature 2) and a row id, derived from the same split, so the null rows measure false
alarms on mixed types too (Evidently gets the numeric frame). ``--null-sizes`` adds a table of false-alarm
rates at n rows a side drawn with replacement from each data set (so the null holds exactly, with many ties)
up to a million rows; above 20,000 rows the frame is numeric plus the band, without the text columns.

Why with replacement is the right null, not a flaw of the benchmark: both sides are independent draws from
one fixed population (the data set's rows), which is what traffic from an unchanged source is, and the only
way to reach a million rows from bundled data. Given the pooled values, every assignment of rows to the two
sides is then equally likely, exactly as in a random split, so a test that is valid on random splits must be
valid here. What differs is the regime: each value repeats (a 133-value code drawn 1,000 times a side shows
each value about 15 times), so an unseen value is rare but brings many rows. That exposed the unseen-value
test's normal approximation (6.7% of draws alarmed on that code at alpha 0.05), which is now an exact tail
(``detectors.drift.stats.unseen_split_p_value``). At a million rows nothing differs between the sides either:
an alarm there is a false alarm, not a "tiny real difference", so no effect-size floor is applied by default
(``min_effect`` is the option for practically small changes); the per-column tests are calibrated there
(Brown-Forsythe rejects 3.9% to 5.5% of 1,000 draws per diabetes column at alpha 0.05).

"baseline" is the named baseline run in the same process: KS and Brown-Forsythe, Bonferroni over the two, and
no joint test (the numeric test before issue 14's power work). Detection rates are over ``--seeds`` splits; our
false-alarm rate over ``--null-seeds`` (a rate near 5% needs hundreds of splits to be told from 10%), shown with
its 95% Wilson interval. "dataset" is the dataset-level verdict (ours: anything drifted after BH; Evidently: its
DataDriftPreset share >= 0.5); "column" is whether the changed column itself was flagged (ours after the
correction; Evidently's per-column test at its defaults, uncorrected); "col. raw" is our column's own tests at
alpha without the correction, the like-for-like comparison with Evidently's column. Evidently runs in its own
venv (``$EVIDENTLY_PYTHON`` or /tmp/evidently-venv/bin/python).

    .venv/bin/python benchmarks/drift_quality.py --seeds 40 --null-seeds 200
    .venv/bin/python benchmarks/drift_quality.py --seeds 40 --null-seeds 300 --rows 100 --mixed
    .venv/bin/python benchmarks/drift_quality.py --seeds 0 --null-sizes 50 1000 100000 1000000 --null-size-seeds 40
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
GROUPS = {
    "null": "null",
    "noise_few": "issue",
    "spread_few": "issue",
    "mixed_few": "issue",
    "noise": "hard",
    "spread": "hard",
    "mixed_code": "hard",
    "selection": "other",
    "rescale": "other",
    "category_swap": "other",
    "missing": "other",
}
SCENARIOS = tuple(GROUPS)
# Features that appear only through their text forms (``mixed_columns``): feature 2 as an amount stored as text,
# feature 1 as a high-cardinality code.
TEXT_ONLY = {"mixed_few": (2,), "mixed_code": (1, 2)}
# Above this many rows a side the null-size frames leave out the text columns (writing them is the slow part).
TEXT_MAX_ROWS = 20_000
DATASETS = ("breast_cancer", "wine", "diabetes")
BAND = "band"


def load(name: str) -> tuple[np.ndarray, list[str]]:
    """A bundled scikit-learn data set's feature matrix and column names (nothing is downloaded)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    return np.asarray(bunch.data, dtype=np.float64), [str(c).replace(" ", "_") for c in bunch.feature_names]


def make_split(
    x: np.ndarray, scenario: str, seed: int, rows: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reference and current numeric halves plus their categorical band columns, with the scenario applied to col 0."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    half = min(rows or len(x) // 2, len(x) // 2)
    ref, cur = x[order[:half]].copy(), x[order[half : 2 * half]].copy()
    quartiles = np.quantile(ref[:, 0], [0.25, 0.5, 0.75])
    if scenario == "selection":
        keep = (cur[:, 0] > np.median(x[:, 0])) | (rng.random(len(cur)) < 0.3)
        cur = cur[keep]
    elif scenario == "noise":
        cur[:, 0] += rng.normal(0, 0.5 * ref[:, 0].std(), len(cur))
    elif scenario == "rescale":
        cur[:, 0] *= 1.5
    elif scenario == "spread":
        median = np.median(ref[:, 0])
        cur[:, 0] = median + (cur[:, 0] - median) * 1.5
    elif scenario in ("noise_few", "mixed_few", "mixed_code"):
        for j in range(min(3, x.shape[1])):
            cur[:, j] += rng.normal(0, ref[:, j].std(), len(cur))
    elif scenario == "spread_few":
        for j in range(min(3, x.shape[1])):
            median = np.median(ref[:, j])
            cur[:, j] = median + (cur[:, j] - median) * 1.5
    elif scenario == "missing":
        cur[rng.random(len(cur)) < 0.2, 0] = np.nan
    ref_band = np.array(["q1", "q2", "q3", "q4"], dtype=object)[np.searchsorted(quartiles, ref[:, 0])]
    cur_band = np.array(["q1", "q2", "q3", "q4"], dtype=object)[np.searchsorted(quartiles, np.nan_to_num(cur[:, 0]))]
    if scenario == "category_swap":
        cur_band = np.where(cur_band == "q1", "q4", np.where(cur_band == "q4", "q1", cur_band)).astype(object)
        cur_band[cur_band == "q2"] = "q1"
    return ref, cur, ref_band, cur_band


def mixed_columns(values: np.ndarray, offset: int) -> dict[str, np.ndarray]:
    """A high-cardinality text code, an amount stored as text, and a row id, from one side's numeric frame."""
    return {
        "code": np.array([f"c{v:.3g}" for v in values[:, 1 % values.shape[1]]], dtype=object),
        "amount_text": np.array([f"{v:.4g}" for v in values[:, 2 % values.shape[1]]], dtype=object),
        "row_id": np.array([f"row-{offset + i}" for i in range(len(values))], dtype=object),
    }


def baseline_detector() -> Any:
    """The named baseline: KS and Brown-Forsythe per numeric column, Bonferroni over the two (before issue 14)."""
    from detectors.drift import KSDrift
    from detectors.drift.results import SpreadChange, Statistic
    from detectors.drift.stats import ks_and_wasserstein, ks_p_value, spread_p_value

    class KSSpreadBonferroni(KSDrift):
        joint_test = False  # the numeric test of each feature, as before issue 14: no joint test either

        def numeric_statistic(self, reference: Any, current: Any) -> Statistic:
            distance, wasserstein = ks_and_wasserstein(reference.column.values, current.values)
            p_ks = ks_p_value(distance, reference.column.values, current.values)
            ratio, p_spread = spread_p_value(reference.column.values, current.values)
            spread = SpreadChange(ratio, p_spread)
            p_value = min(1.0, 2 * min(p_ks, p_spread))
            return Statistic("ks+bf", distance, p_value, wasserstein / reference.scale, spread=spread)

    return KSSpreadBonferroni(workers=1, min_count=20)


def frames(
    ref: np.ndarray,
    cur: np.ndarray,
    ref_band: np.ndarray,
    cur_band: np.ndarray,
    names: list[str],
    *,
    mixed: bool = False,
    text_only: tuple[int, ...] = (),
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reference and current frames: the numeric features (less ``text_only``), the band, the text columns."""
    kept = [(j, name) for j, name in enumerate(names) if j not in text_only]
    reference = {name: ref[:, j] for j, name in kept} | {BAND: ref_band}
    current = {name: cur[:, j] for j, name in kept} | {BAND: cur_band}
    if mixed or text_only:
        reference |= mixed_columns(ref, 0)
        current |= mixed_columns(cur, len(ref))
    return reference, current


def ours(
    ref: np.ndarray,
    cur: np.ndarray,
    ref_band: np.ndarray,
    cur_band: np.ndarray,
    names: list[str],
    *,
    mixed: bool = False,
    text_only: tuple[int, ...] = (),
    baseline: bool = False,
) -> tuple[bool, bool, bool, bool, bool]:
    """(dataset drift, column 0 flagged, band flagged, column 0 raw, band raw) from inferwatch's default detector.

    "Flagged" is after the Benjamini-Hochberg correction across every test, which is what holds the dataset
    false-alarm rate; "raw" is the column's own tests at alpha, uncorrected, like Evidently's per-column test.
    ``baseline`` runs the named baseline instead.
    """
    from detectors.drift import KSDrift

    reference, current = frames(ref, cur, ref_band, cur_band, names, mixed=mixed, text_only=text_only)
    detector = baseline_detector() if baseline else KSDrift(workers=1, min_count=20)
    report = detector.fit(reference).score(current)

    def raw(name: str) -> bool:
        feature = report.feature(name)
        p_values = [feature.p_value, feature.missing.p_value, feature.unseen.p_value if feature.unseen else None]
        return any(p is not None and p < detector.alpha for p in p_values)

    column, band = report.feature(names[0]), report.feature(BAND)
    return report.dataset_drift, column.drifted, band.drifted, raw(names[0]), raw(BAND)


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
    """Every data set x scenario x seed, ours, the baseline's and Evidently's; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help="splits per scenario, for both tools (default 20)")
    parser.add_argument(
        "--null-seeds",
        type=int,
        default=200,
        help="splits for our false-alarm rate (default 200): a rate near 5%% needs hundreds to be told from 10%%",
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--rows", type=int, default=None, help="rows a side (default: half of the data set each)")
    parser.add_argument("--mixed", action="store_true", help="add text code, amount-as-text and id columns (ours)")
    parser.add_argument("--null-sizes", type=int, nargs="*", default=[], help="rows a side for false alarms by n")
    parser.add_argument("--null-size-seeds", type=int, default=100, help="splits per size (default 100)")
    parser.add_argument("--evidently-child", type=Path)
    args = parser.parse_args()
    if args.evidently_child:
        print(json.dumps(evidently_child(args.evidently_child)))
        return
    if args.seeds > 0:
        scenario_table(args)
    if args.null_sizes:
        null_size_table(args)


def scenario_table(args: argparse.Namespace) -> None:
    """Detection per scenario (false alarms for null), ours against the baseline and Evidently."""
    print(
        f"{'group':<6} {'data set':<14} {'scenario':<14} {'ours dataset':>18} {'baseline dataset':>18} "
        f"{'ours column':>11} {'ours col. raw':>13} {'evid. dataset':>13} {'evid. column':>12}"
    )
    for dataset in args.datasets:
        x, names = load(dataset)
        counts = {s: max(args.seeds, args.null_seeds) if s == "null" else args.seeds for s in SCENARIOS}
        scenarios = [s for s in SCENARIOS if s in args.scenarios]
        splits = {(s, seed): make_split(x, s, seed, args.rows) for s in scenarios for seed in range(counts[s])}
        mine, base = {}, {}
        for key, split in splits.items():
            text_only = TEXT_ONLY.get(key[0], ())
            mine[key] = ours(*split, names, mixed=args.mixed, text_only=text_only)
            base[key] = ours(*split, names, mixed=args.mixed, text_only=text_only, baseline=True)
        theirs = _run_evidently({k: v for k, v in splits.items() if k[1] < args.seeds}, names)
        for scenario in scenarios:
            swap = scenario == "category_swap"
            rows = [mine[(scenario, seed)] for seed in range(counts[scenario])]
            cells = [
                _rate([r[0] for r in rows]),
                _rate([base[(scenario, seed)][0] for seed in range(counts[scenario])]),
                f"{np.mean([r[2 if swap else 1] for r in rows]):>11.0%}",
                f"{np.mean([r[4 if swap else 3] for r in rows]):>13.0%}",
            ]
            if theirs is None:
                cells += [f"{'n/a':>13}", f"{'n/a':>12}"]
            else:
                evid = [theirs[(scenario, seed)] for seed in range(args.seeds)]
                column = 2 if swap else 1
                cells += [f"{np.mean([r[0] for r in evid]):>13.0%}", f"{np.mean([r[column] for r in evid]):>12.0%}"]
            print(f"{GROUPS[scenario]:<6} {dataset:<14} {scenario:<14} {' '.join(cells)}")
    print(
        f"null rows are false-alarm rates, ours over {max(args.seeds, args.null_seeds)} splits with a 95% Wilson "
        f"interval, Evidently's over {args.seeds}; the others are detection rates over {args.seeds} splits.\n"
        "column = the changed column (band for swaps) after the correction; col. raw = its own tests uncorrected, "
        "as Evidently's column tests are. baseline = KS + Brown-Forsythe, Bonferroni over the two."
    )


def null_size_table(args: argparse.Namespace) -> None:
    """Dataset false-alarm rate at n rows a side, both sides drawn with replacement from one data set."""
    print(f"\n{'data set':<14} {'rows a side':>11} {'splits':>6} {'ours false alarms':>18} {'baseline':>18}")
    for dataset in args.datasets:
        x, names = load(dataset)
        for size in args.null_sizes:
            mine, base = [], []
            for seed in range(args.null_size_seeds):
                rng = np.random.default_rng(seed)
                ref, cur = x[rng.integers(0, len(x), size)], x[rng.integers(0, len(x), size)]
                quartiles = np.quantile(ref[:, 0], [0.25, 0.5, 0.75])
                labels = np.array(["q1", "q2", "q3", "q4"], dtype=object)
                bands = labels[np.searchsorted(quartiles, ref[:, 0])], labels[np.searchsorted(quartiles, cur[:, 0])]
                mixed = args.mixed and size <= TEXT_MAX_ROWS
                mine.append(ours(ref, cur, *bands, names, mixed=mixed)[0])
                base.append(ours(ref, cur, *bands, names, mixed=mixed, baseline=True)[0])
            print(f"{dataset:<14} {size:>11,} {len(mine):>6} {_rate(mine, always=True)} {_rate(base, always=True)}")


def _rate(flags: list[bool], *, always: bool = False) -> str:
    """A rate, with its 95% Wilson interval when it is a false-alarm rate over many splits (or ``always``)."""
    n, k = len(flags), sum(flags)
    if n < 100 and not always:
        return f"{k / n:>18.0%}"
    z = 1.959963984540054
    centre = (k / n + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(k / n * (1 - k / n) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{k / n:.1%} [{max(0.0, centre - half):.0%}-{centre + half:.0%}]".rjust(18)


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
