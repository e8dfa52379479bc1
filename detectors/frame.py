"""Rollups as columns, for detector passes over many models: one numpy array per field, keys numbered.

A day of one-minute rollups of 1,000 models is 1.44 million rows. As Python objects, with each latency
summary decoded, that is about half a minute of a pass; as columns, with the latency quantile read from
the column stored beside the summary, it is a couple of seconds. The summaries stay in the table for what
columns cannot do: merging hardware classes, and counting requests above an SLO threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from detectors.rollups import STORED_QUANTILES, RollupKey

_KEY_COLUMNS = "model_name, model_version, operation, hardware_class"
_RANGE = "interval_s = :interval AND bucket_start_unix_s >= :start AND bucket_start_unix_s < :end"
# One statement, so one snapshot: the key numbering and the rows cannot disagree. Key names are sent only
# on each key's first row; every other row carries the key's number alone, which is what makes it fast.
_QUERY = f"""
WITH k AS (
    SELECT {_KEY_COLUMNS}, MIN(bucket_start_unix_s) AS first_bucket,
           ROW_NUMBER() OVER (ORDER BY {_KEY_COLUMNS}) - 1 AS kid
    FROM span_rollups WHERE {_RANGE}
    GROUP BY {_KEY_COLUMNS}
)
SELECT k.kid, r.bucket_start_unix_s, r.requests, r.errors, r.busy_ns, r.input_tokens, r.output_tokens,
       {{quantile}},
       CASE WHEN r.bucket_start_unix_s = k.first_bucket THEN r.model_name END,
       CASE WHEN r.bucket_start_unix_s = k.first_bucket THEN r.model_version END,
       CASE WHEN r.bucket_start_unix_s = k.first_bucket THEN r.operation END,
       CASE WHEN r.bucket_start_unix_s = k.first_bucket THEN r.hardware_class END
FROM span_rollups r
JOIN k ON r.model_name = k.model_name AND r.model_version = k.model_version
      AND r.operation = k.operation AND r.hardware_class = k.hardware_class
WHERE r.{_RANGE.replace(" AND ", " AND r.")}
"""


@dataclass(frozen=True, eq=False)
class RollupFrame:
    """Rollups of one interval length as columns; row ``i`` is about ``keys[key[i]]``."""

    interval_s: int
    keys: tuple[RollupKey, ...]
    key: np.ndarray
    bucket: np.ndarray
    requests: np.ndarray
    errors: np.ndarray
    busy_ns: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    # The stored latency quantile that was asked for, in ms; NaN where the row has none.
    quantile_ms: np.ndarray

    def __len__(self) -> int:
        return int(self.key.size)


def load_frame(engine: Engine, start_s: int, end_s: int, interval_s: int = 60, quantile: float = 0.95) -> RollupFrame:
    """Rollups with buckets in ``[start_s, end_s)`` as columns, ordered by key, then time."""
    column = STORED_QUANTILES.get(quantile)
    statement = text(_QUERY.format(quantile=f"r.{column}" if column else "NULL"))
    with engine.connect() as connection:
        rows = connection.execute(statement, {"interval": interval_s, "start": start_s, "end": end_s}).all()
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return RollupFrame(interval_s, (), empty, empty, empty, empty, empty, empty, empty, np.zeros(0))
    columns = list(zip(*rows, strict=True))
    count = len(rows)

    def integers(index: int) -> np.ndarray:
        return np.fromiter(columns[index], dtype=np.int64, count=count)

    key = integers(0)
    names: dict[int, RollupKey] = {}
    for row in rows:
        if row[8] is not None:
            names[int(row[0])] = RollupKey(row[8], row[9], row[10], row[11])
    bucket = integers(1)
    order = np.lexsort((bucket, key))
    quantiles = np.array(columns[7], dtype=np.float64)  # None becomes NaN
    return RollupFrame(
        interval_s=interval_s,
        keys=tuple(names[index] for index in range(len(names))),
        key=key[order],
        bucket=bucket[order],
        requests=integers(2)[order],
        errors=integers(3)[order],
        busy_ns=integers(4)[order],
        input_tokens=integers(5)[order],
        output_tokens=integers(6)[order],
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
