"""Rollups as columns, for detector passes over many models: one numpy array per field, keys numbered.

A day of one-minute rollups of 1,000 models is 1.44 million rows. As Python objects, with each latency
summary decoded, that is about half a minute of a pass; as columns, with the latency quantile read from
the column stored beside the summary, it is a couple of seconds. The summaries stay in the table for what
columns cannot do: merging hardware classes, and counting requests above an SLO threshold.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from collector.core.storage.tables import SpanRollupRow
from detectors.latency_sketch import LatencySketch
from detectors.rollups import STORED_QUANTILES, RollupKey

# A key travels as one string (four would cost four Python objects per row), split on the unit separator;
# a name that contains one is resolved by asking the database for the keys instead.
_SEPARATOR = "\x1f"
_QUERY = """
SELECT model_name || :sep || model_version || :sep || operation || :sep || hardware_class,
       bucket_start_unix_s, requests, busy_ns, input_tokens, output_tokens, {quantile}
FROM span_rollups
WHERE interval_s = :interval AND bucket_start_unix_s >= :start AND bucket_start_unix_s < :end{model}
"""


@dataclass(frozen=True, eq=False)
class RollupFrame:
    """Rollups of one interval length as columns; row ``i`` is about ``keys[key[i]]``.

    Only what latency and cost read: SLOs need the summaries anyway, so they load rows with errors.
    """

    interval_s: int
    keys: tuple[RollupKey, ...]
    key: np.ndarray
    bucket: np.ndarray
    requests: np.ndarray
    busy_ns: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    # The stored latency quantile that was asked for, in ms; NaN where the row has none.
    quantile_ms: np.ndarray

    def __len__(self) -> int:
        return int(self.key.size)


def _fetch(
    engine: Engine, start_s: int, end_s: int, interval_s: int, quantile: float, *, model_name: str | None
) -> Sequence[Sequence[Any]]:
    """The rows, from the driver's own cursor: SQLAlchemy's Row objects would double the cost of a pass."""
    column = STORED_QUANTILES.get(quantile)
    model = " AND model_name = :model" if model_name is not None else ""
    statement = text(_QUERY.format(quantile=column or "NULL", model=model))
    compiled = statement.compile(dialect=engine.dialect)
    values: dict[str, Any] = {"sep": _SEPARATOR, "interval": interval_s, "start": start_s, "end": end_s}
    if model_name is not None:
        values["model"] = model_name
    params = compiled.construct_params(values)
    arguments = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        try:
            # Collecting a million fresh tuples would run the cyclic collector dozens of times for nothing:
            # rows hold no cycles. Paused for the fetch only.
            collecting = gc.isenabled()
            gc.disable()
            try:
                cursor.execute(compiled.string, arguments)
                rows: Sequence[Sequence[Any]] = cursor.fetchall()
            finally:
                if collecting:
                    gc.enable()
        finally:
            cursor.close()
    return rows


def _distinct_keys(engine: Engine, start_s: int, end_s: int, interval_s: int) -> list[tuple[str, str, str, str]]:
    query = (
        select(
            SpanRollupRow.model_name, SpanRollupRow.model_version, SpanRollupRow.operation, SpanRollupRow.hardware_class
        )
        .where(
            SpanRollupRow.interval_s == interval_s,
            SpanRollupRow.bucket_start_unix_s >= start_s,
            SpanRollupRow.bucket_start_unix_s < end_s,
        )
        .distinct()
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


def load_frame(
    engine: Engine,
    start_s: int,
    end_s: int,
    interval_s: int = 60,
    quantile: float = 0.95,
    *,
    model_name: str | None = None,
) -> RollupFrame:
    """Rollups with buckets in ``[start_s, end_s)`` as columns, ordered by key (as named), then time."""
    rows = _fetch(engine, start_s, end_s, interval_s, quantile, model_name=model_name)
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return RollupFrame(interval_s, (), empty, empty, empty, empty, empty, empty, np.zeros(0))
    columns = list(zip(*rows, strict=True))
    del rows
    count = len(columns[0])
    numbers: dict[str, int] = {}
    raw_key = np.fromiter((numbers.setdefault(name, len(numbers)) for name in columns[0]), np.int64, count)
    names = sorted(numbers)
    if any(name.count(_SEPARATOR) != 3 for name in names):
        # A name with the separator in it: ask the database which keys these are (rare, so a second query).
        by_joined = {
            _SEPARATOR.join(key): RollupKey(*key) for key in _distinct_keys(engine, start_s, end_s, interval_s)
        }
    else:
        by_joined = {}
    keys = [by_joined.get(name) or RollupKey(*name.split(_SEPARATOR)) for name in names]
    # Renumber in name order, so a frame's keys come out sorted whatever order the rows arrived in.
    renumber = np.empty(len(names), dtype=np.int64)
    renumber[[numbers[name] for name in names]] = np.arange(len(names))
    key = renumber[raw_key]

    def integers(index: int) -> np.ndarray:
        return np.fromiter(columns[index], dtype=np.int64, count=count)

    bucket = integers(1)
    order = np.lexsort((bucket, key))
    quantiles = np.array(columns[6], dtype=np.float64)  # None becomes NaN
    return RollupFrame(
        interval_s=interval_s,
        keys=tuple(keys),
        key=key[order],
        bucket=bucket[order],
        requests=integers(2)[order],
        busy_ns=integers(3)[order],
        input_tokens=integers(4)[order],
        output_tokens=integers(5)[order],
        quantile_ms=quantiles[order],
    )


@dataclass(frozen=True, eq=False)
class LatencyColumns:
    """One (model, version, operation) latency series: interval starts, traffic and the quantile, in time order."""

    key: tuple[str, str, str]
    start_s: np.ndarray
    requests: np.ndarray
    value_ms: np.ndarray


def latency_columns(frame: RollupFrame) -> tuple[list[LatencyColumns], set[tuple[str, str, str]]]:
    """Series readable from the stored quantiles, and the keys that need their summaries merged instead.

    A series needs merging when it runs on more than one hardware class (quantiles do not add), or when a
    row has no stored quantile (written before the column existed).
    """
    by_series: dict[tuple[str, str, str], list[int]] = {}
    for index, key in enumerate(frame.keys):
        by_series.setdefault((key.model_name, key.model_version, key.operation), []).append(index)
    bounds = np.searchsorted(frame.key, np.arange(len(frame.keys) + 1))
    ready = []
    merge = set()
    for series, indices in by_series.items():
        if len(indices) > 1:
            merge.add(series)
            continue
        first, last = bounds[indices[0]], bounds[indices[0] + 1]
        values = frame.quantile_ms[first:last]
        if np.isnan(values).any():
            merge.add(series)
            continue
        ready.append(LatencyColumns(series, frame.bucket[first:last], frame.requests[first:last], values))
    return ready, merge


def quiet_sketches(
    engine: Engine, start_s: int, end_s: int, interval_s: int, below: int
) -> dict[tuple[str, str, str], dict[int, LatencySketch]]:
    """Latency summaries of the intervals with fewer than ``below`` requests, per (model, version, operation)
    and interval start, hardware classes merged: what pooling quiet intervals needs, and nothing more (a busy
    series reads none, so the pass stays on stored quantiles)."""
    query = (
        select(
            SpanRollupRow.model_name,
            SpanRollupRow.model_version,
            SpanRollupRow.operation,
            SpanRollupRow.bucket_start_unix_s,
            SpanRollupRow.latency_sketch,
        )
        .where(
            SpanRollupRow.interval_s == interval_s,
            SpanRollupRow.bucket_start_unix_s >= start_s,
            SpanRollupRow.bucket_start_unix_s < end_s,
            SpanRollupRow.requests < below,
        )
        .order_by(SpanRollupRow.bucket_start_unix_s)
    )
    by_series: dict[tuple[str, str, str], dict[int, LatencySketch]] = {}
    with engine.connect() as connection:
        for model, version, operation, bucket, raw in connection.execute(query):
            sketches = by_series.setdefault((model, version, operation), {})
            sketch = LatencySketch.from_bytes(raw)
            sketches[bucket] = sketches[bucket].merge(sketch) if bucket in sketches else sketch
    return by_series
