"""Reading CSV files block by block: types that change after the first block, delimiters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detectors.drift.files import read_table, sniff_delimiter

# More rows than one 4 MiB block holds, so the first block's types meet later blocks.
ROWS = 400_000


def test_integers_then_decimals_are_one_float_column(tmp_path: Path) -> None:
    """Whole numbers in the first block and a decimal at the end read as one float64 column."""
    path = tmp_path / "n.csv"
    path.write_text("v,w\n" + "".join(f"{i},{i % 7}\n" for i in range(ROWS)) + "1.5,2\n")
    table = read_table(path)
    assert table["v"].dtype == np.float64
    assert table["v"].size == ROWS + 1
    assert table["v"][-1] == 1.5
    assert table["w"][:8].tolist() == [0, 1, 2, 3, 4, 5, 6, 0]


def test_text_after_numbers_falls_back_to_reading_the_whole_file(tmp_path: Path) -> None:
    """A word after a first block of numbers makes the column text, not an error ('n/a' would be a null)."""
    path = tmp_path / "t.csv"
    path.write_text("v\n" + "".join(f"{i}\n" for i in range(ROWS)) + "unknown\n")
    table = read_table(path)
    assert table["v"].dtype == object
    assert table["v"][-1] == "unknown"
    assert table["v"].size == ROWS + 1


def test_delimiter_is_read_off_the_header_outside_quotes(tmp_path: Path) -> None:
    """A comma inside a quoted column name does not outvote the semicolons."""
    path = tmp_path / "q.csv"
    path.write_text('"a,b";c;d\n1;2;3\n')
    assert sniff_delimiter(path) == ";"
    assert list(read_table(path)) == ["a,b", "c", "d"]
