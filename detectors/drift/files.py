"""Reading a reference or current data set from CSV or Parquet into typed columns, for ``drift check``.

Numbers become float64 arrays (nulls as NaN); text and booleans become object arrays (nulls as None). The
format follows the suffix (``.parquet``/``.pq`` or anything else read as CSV). A CSV's delimiter is read off
its header line (comma, semicolon, tab or pipe: whichever occurs most outside quotes), so a semicolon file
from a spreadsheet in a European locale is read as such instead of as one wide column that makes the other
file look wrong. Errors are ``ValueError``s naming the file and, where it applies, the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
# A header line longer than this is not read to the end: the delimiter has shown itself well before.
HEADER_SAMPLE_BYTES = 1 << 16
# The first block shows the column types; 4 MiB is enough rows to see them and costs nothing to read.
_BLOCKS = pa_csv.ReadOptions(block_size=4 << 20)
# The whole file, typed, on every core.
_WHOLE = pa_csv.ReadOptions(use_threads=True, block_size=4 << 20)


def read_table(path: Path, columns: Sequence[str] | None = None) -> dict[str, npt.NDArray[Any]]:
    """Read a file into ``{column: array}``; only ``columns`` when given (each must exist)."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        table = _read(path, columns)
    except pa.ArrowInvalid as error:
        raise ValueError(f"{path}: cannot read it as {_format(path)}: {error}") from None
    except KeyError as error:
        raise ValueError(f"{path}: no column {error}") from None
    if isinstance(table, dict):  # a CSV read block by block: already numpy
        if not table:
            raise ValueError(f"{path}: has no columns")
        if len(next(iter(table.values()))) == 0:
            raise ValueError(f"{path}: has no rows")
        return table
    if table.num_columns == 0:
        raise ValueError(f"{path}: has no columns")
    if table.num_rows == 0:
        raise ValueError(f"{path}: has no rows")
    columns_out: dict[str, npt.NDArray[Any]] = {}
    for name in table.column_names:
        columns_out[name] = _to_numpy(table.column(name))
        # Drop each column from the table once converted, so Arrow's copy and numpy's never both hold the file.
        table = table.drop_columns([name])
    del table
    release_memory()
    return columns_out


def release_memory() -> None:
    """Hand Arrow's freed memory back to the system (its allocator keeps it for reuse otherwise)."""
    pa.default_memory_pool().release_unused()


def _format(path: Path) -> str:
    return "Parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "CSV"


def _read(path: Path, columns: Sequence[str] | None) -> pa.Table | dict[str, npt.NDArray[Any]]:
    if _format(path) == "Parquet":
        schema = pq.read_schema(path)
        _require(path, schema.names, columns)
        return pq.read_table(path, columns=list(columns) if columns else None)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: is empty")
    options = pa_csv.ConvertOptions(include_columns=list(columns) if columns else None, strings_can_be_null=True)
    parse = pa_csv.ParseOptions(delimiter=sniff_delimiter(path))
    if columns:
        header = pa_csv.open_csv(path, parse_options=parse).schema.names
        _require(path, header, columns)
    try:
        return _read_csv_typed(path, parse, options)
    except pa.ArrowInvalid:
        # A later block disagrees with the types the first one showed (text after numbers): read it whole.
        return pa_csv.read_csv(path, parse_options=parse, convert_options=options)


def _read_csv_typed(path: Path, parse: Any, options: Any) -> dict[str, npt.NDArray[Any]]:
    """A CSV with the types its first block shows, converted to numpy column by column.

    ``read_csv`` peaks at about 2.4 times a million-row file's size while it infers types; giving it the types
    the first block shows keeps the peak near the numpy result. Numeric columns are read as float64 from the
    start, so integers in the first block and decimals later are one column.
    """
    reader = pa_csv.open_csv(path, parse_options=parse, convert_options=options, read_options=_BLOCKS)
    numeric = {
        field.name: pa.float64()
        for field in reader.schema
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)
    }
    typed = pa_csv.ConvertOptions(
        include_columns=options.include_columns, strings_can_be_null=True, column_types=numeric
    )
    # Typed, the whole-file reader needs no inference pass and parses blocks on every core; its table is about
    # the size of the numpy result, and each column is freed as soon as it is converted.
    table = pa_csv.read_csv(path, parse_options=parse, convert_options=typed, read_options=_WHOLE)
    out: dict[str, npt.NDArray[Any]] = {}
    for name in table.column_names:
        out[name] = np.array(_to_numpy(table.column(name)), copy=True)
        table = table.drop_columns([name])
        release_memory()
    return out


def sniff_delimiter(path: Path) -> str:
    """The delimiter of a CSV file: the candidate that occurs most often outside quotes in its header line."""
    with path.open("rb") as handle:
        header = handle.readline(HEADER_SAMPLE_BYTES).decode("utf-8", errors="replace")
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda candidate: counts[candidate])  # ties keep the comma, listed first
    return best if counts[best] else ","


def _require(path: Path, present: Sequence[str], wanted: Sequence[str] | None) -> None:
    lacking = [name for name in wanted or () if name not in present]
    if lacking:
        raise ValueError(f"{path}: no column(s) {', '.join(lacking)} (it has {', '.join(present)})")


def _to_numpy(column: pa.ChunkedArray) -> npt.NDArray[Any]:
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_null(kind):
        return np.full(len(column), None, dtype=object)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind)):
        column = column.cast(pa.string())
    return np.asarray(column.to_pylist(), dtype=object)


def check_same_columns(reference: dict[str, Any], current: dict[str, Any], current_path: Path) -> None:
    """The current file must have every reference column."""
    lacking = [name for name in reference if name not in current]
    if lacking:
        raise ValueError(f"{current_path}: lacks column(s) the reference has: {', '.join(lacking)}")
