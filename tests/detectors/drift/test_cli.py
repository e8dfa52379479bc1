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
from sklearn.datasets import load_wine

from detectors.drift.cli import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_NO_DRIFT, EXIT_NOT_ENOUGH_DATA, add_drift_commands


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
    assert [item["method"] for item in document["features"]] == ["ks+spread", "ks+spread", "chi_square"]


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


@pytest.fixture
def wine(tmp_path: Path) -> dict[str, Path]:
    """Wine's 178 rows as the reference, its first 19 rows alone, and a half with graded shifts, as CSV."""
    bunch = load_wine()
    names = [str(name).replace("/", "_") for name in bunch.feature_names]
    data = bunch.data

    def frame(rows: np.ndarray) -> dict[str, list[object]]:
        return {name: rows[:, j].tolist() for j, name in enumerate(names)}

    order = np.random.default_rng(7).permutation(len(data))
    shifted = data[order[89:]].copy()
    std = data.std(axis=0)
    # Column order hides the largest change: small shifts first, the large one last.
    for j, size in ((0, 0.8), (1, 0.9), (2, 1.0), (3, 1.1), (4, 1.2), (5, 1.3), (12, 3.0)):
        shifted[:, j] += size * std[j]
    return {
        "reference": write_csv(tmp_path / "wine.csv", frame(data)),
        "few": write_csv(tmp_path / "wine19.csv", frame(data[:19])),
        "half": write_csv(tmp_path / "half.csv", frame(data[order[:89]])),
        "shifted": write_csv(tmp_path / "shifted.csv", frame(shifted)),
    }


def test_a_19_row_file_is_not_enough_data_not_no_drift(wine: dict[str, Path]) -> None:
    """19 current rows: every feature unjudged, so its own verdict, exit code and JSON field, never "no drift"."""
    argv = ("drift", "check", "--reference", str(wine["reference"]), "--current", str(wine["few"]))
    code, out, _ = run(*argv)
    assert code == EXIT_NOT_ENOUGH_DATA
    assert "NOT ENOUGH DATA: 13 of 13 features had too few values to judge" in out
    assert "no drift" not in out
    code, out, _ = run(*argv, "--json")
    document = orjson.loads(out)
    assert code == EXIT_NOT_ENOUGH_DATA
    assert document["verdict"] == "not_enough_data"
    assert len(document["not_enough_data"]) == 13
    assert document["dataset_drift"] is False


def test_a_full_split_is_no_drift_with_the_verdict_field(wine: dict[str, Path]) -> None:
    """A random half of wine against all of it: exit 0 and verdict no_drift."""
    code, out, _ = run(
        "drift", "check", "--reference", str(wine["reference"]), "--current", str(wine["half"]), "--json"
    )
    document = orjson.loads(out)
    assert (code, document["verdict"], document["not_enough_data"]) == (EXIT_NO_DRIFT, "no_drift", [])


def test_drifted_features_are_listed_largest_effect_first(wine: dict[str, Path]) -> None:
    """The 3-sd shift of the last column leads the JSON list, the table and the verdict line."""
    argv = ("drift", "check", "--reference", str(wine["reference"]), "--current", str(wine["shifted"]))
    code, out, _ = run(*argv, "--json")
    document = orjson.loads(out)
    assert code == EXIT_DRIFT
    assert document["drifted_features"][0] == "proline"
    effects = {item["feature"]: item["effect_size"] for item in document["features"]}
    listed = [effects[name] for name in document["drifted_features"]]
    assert listed == sorted(listed, reverse=True)
    _, table, _ = run(*argv)
    assert table.splitlines()[1].startswith("proline")
    assert "largest effect first: proline" in table


@pytest.mark.parametrize(("side", "delimiter"), [("reference", ";"), ("current", ";"), ("reference", "\t")])
def test_a_csv_that_is_not_comma_separated_is_read_as_such(
    wine: dict[str, Path], tmp_path: Path, side: str, delimiter: str
) -> None:
    """A semicolon or tab file on either side gives the same report as the comma file it was made from."""
    source = wine["reference"] if side == "reference" else wine["half"]
    other = tmp_path / f"other{ord(delimiter)}.csv"
    other.write_text(source.read_text().replace(",", delimiter))
    pair = {"reference": wine["reference"], "current": wine["half"], side: other}
    argv = ("drift", "check", "--reference", str(pair["reference"]), "--current", str(pair["current"]), "--json")
    _, expected, _ = run(
        "drift", "check", "--reference", str(wine["reference"]), "--current", str(wine["half"]), "--json"
    )
    code, out, err = run(*argv)
    assert (code, err) == (EXIT_NO_DRIFT, "")
    assert orjson.loads(out) == orjson.loads(expected)


def test_report_writes_a_self_contained_html_file(wine: dict[str, Path], tmp_path: Path) -> None:
    """--report writes one HTML file: the verdict, every feature with a chart, the statistics, nothing fetched."""
    path = tmp_path / "drift.html"
    code, _, err = run(
        "drift", "check", "--reference", str(wine["reference"]), "--current", str(wine["shifted"]),
        "--report", str(path),
    )  # fmt: skip
    html = path.read_text(encoding="utf-8")
    assert (code, err) == (EXIT_DRIFT, "")
    assert html.startswith("<!doctype html>")
    assert "DRIFT: " in html
    assert html.count("<svg") == 13
    assert html.index("<h3>proline") < html.index("<h3>alcohol")  # largest effect first
    for name in ("p-value (adjusted)", "effect size", "spread ratio"):
        assert name in html
    for fetching in ("<script", "src=", "<link", "url("):
        assert fetching not in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_charts_categories_and_skips_identifiers(tmp_path: Path) -> None:
    """A text column gets a bar chart with its unseen share; an id column gets a note and no chart."""
    codes: list[object] = [f"c{v:.2f}" for v in load_wine().data[:, 0]]
    ids: list[object] = [f"id{i}" for i in range(len(codes))]
    reference = write_csv(tmp_path / "r.csv", {"code": codes[:89], "id": ids[:89]})
    current = write_csv(tmp_path / "c.csv", {"code": codes[89:], "id": ids[89:]})
    path = tmp_path / "r.html"
    code, _, _ = run("drift", "check", "--reference", str(reference), "--current", str(current), "--report", str(path))
    html = path.read_text(encoding="utf-8")
    assert code == EXIT_NO_DRIFT
    assert html.count("<svg") == 1
    assert "(unseen)" in html
    assert "An identifier" in html


def test_an_unwritable_report_is_bad_input(wine: dict[str, Path], tmp_path: Path) -> None:
    """A report path in a folder that does not exist: exit 2 naming it."""
    path = tmp_path / "absent" / "r.html"
    code, _, err = run(
        "drift", "check", "--reference", str(wine["reference"]), "--current", str(wine["half"]), "--report", str(path)
    )
    assert code == EXIT_BAD_INPUT
    assert str(path) in err
