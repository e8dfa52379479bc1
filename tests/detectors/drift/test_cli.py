"""`drift check` end to end on CSV and Parquet files: exit codes, table, JSON and errors."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from detectors.drift.cli import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_NO_DRIFT, add_drift_commands


def run(*argv: str) -> tuple[int, str, str]:
    """Parse and run one command line; returns (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="inferwatch")
    add_drift_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = args.handler(args, out, err)
    return code, out.getvalue(), err.getvalue()


def write_csv(path: Path, columns: dict[str, list[object]]) -> Path:
    """A CSV file with a header; None becomes an empty cell."""
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)
    lines = [",".join(names)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Reference, same-distribution and shifted current files, as CSV and Parquet."""
    rng = np.random.default_rng(3)
    n = 500
    colours = ["red", "green", "blue"]

    def columns(shift: float) -> dict[str, list[object]]:
        return {
            "x": (rng.normal(size=n) + shift).round(4).tolist(),
            "y": rng.normal(size=n).round(4).tolist(),
            "colour": [colours[i] for i in rng.integers(0, 3, size=n)],
        }

    reference, same, shifted = columns(0.0), columns(0.0), columns(1.0)
    pq.write_table(pa.table(shifted), tmp_path / "shifted.parquet")
    return {
        "reference": write_csv(tmp_path / "ref.csv", reference),
        "same": write_csv(tmp_path / "same.csv", same),
        "shifted_csv": write_csv(tmp_path / "shifted.csv", shifted),
        "shifted_parquet": tmp_path / "shifted.parquet",
        "no_colour": write_csv(tmp_path / "no_colour.csv", {"x": same["x"], "y": same["y"]}),
    }


def test_no_drift_exits_zero_with_a_table(files: dict[str, Path]) -> None:
    """Same distribution: exit 0 and a human table with the verdict."""
    code, out, _ = run("drift", "check", "--reference", str(files["reference"]), "--current", str(files["same"]))
    assert code == EXIT_NO_DRIFT
    assert "no drift: 0 of 3 features drifted" in out
    assert "colour" in out


@pytest.mark.parametrize("current", ["shifted_csv", "shifted_parquet"])
def test_drift_exits_one_with_one_json_document(files: dict[str, Path], current: str) -> None:
    """Shifted x, as CSV or Parquet: exit 1 and JSON naming x only."""
    code, out, _ = run(
        "drift", "check", "--reference", str(files["reference"]), "--current", str(files[current]), "--json"
    )
    document = orjson.loads(out)
    assert code == EXIT_DRIFT
    assert document["drifted_features"] == ["x"]
    assert document["dataset_drift"] is True
    assert [item["method"] for item in document["features"]] == ["ks", "ks", "chi_square"]


def test_columns_option_limits_the_check(files: dict[str, Path]) -> None:
    """--columns tests only the named columns, so a column missing elsewhere does not matter."""
    code, out, _ = run(
        "drift", "check", "--reference", str(files["reference"]), "--current", str(files["shifted_csv"]),
        "--columns", "y", "--json", "--correction", "bonferroni",
    )  # fmt: skip
    document = orjson.loads(out)
    assert code == EXIT_NO_DRIFT
    assert [f["feature"] for f in document["features"]] == ["y"]
    assert document["correction"] == "bonferroni"


def test_a_column_missing_from_current_is_named(files: dict[str, Path]) -> None:
    """Exit 2, and stderr names the file and the column."""
    code, _, err = run("drift", "check", "--reference", str(files["reference"]), "--current", str(files["no_colour"]))
    assert code == EXIT_BAD_INPUT
    assert "no_colour.csv" in err
    assert "colour" in err


def test_empty_and_absent_files_are_bad_input(files: dict[str, Path], tmp_path: Path) -> None:
    """An empty file and a path that does not exist each give exit 2 and name the file."""
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for path in (empty, tmp_path / "absent.csv"):
        code, _, err = run("drift", "check", "--reference", str(path), "--current", str(files["same"]))
        assert code == EXIT_BAD_INPUT
        assert path.name in err


def test_bad_alpha_is_bad_input(files: dict[str, Path]) -> None:
    """--alpha outside (0, 1) is refused with the argument named."""
    code, _, err = run(
        "drift", "check", "--reference", str(files["reference"]), "--current", str(files["same"]), "--alpha", "2"
    )
    assert code == EXIT_BAD_INPUT
    assert "`alpha`" in err
