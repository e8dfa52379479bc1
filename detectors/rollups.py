"""Span rollups: per model version, operation and hardware class, per interval, from the raw spans.

A rollup is recomputed whole from the raw spans of its interval and upserted, so running the job twice,
on two replicas, or after a restart gives the same rows. Each run covers the intervals from a little before
the newest stored rollup (``late_s``, for spans that arrive late) up to the last complete interval
(``settle_s`` behind now, for spans still in flight); at most ``max_span_s`` per run, so a long outage is
caught up in steps.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.storage.tables import SpanRollupRow, SpanRow
from collector.storage.upsert import upsert
from detectors.latency_sketch import LatencySketch

NANOS = 1_000_000_000
_KEY = ("model_name", "model_version", "operation", "hardware_class", "interval_s", "bucket_start_unix_s")
_VALUES = (
    "requests",
    "errors",
    "busy_ns",
    "input_tokens",
    "output_tokens",
    "latency_sketch",
    "p50_ms",
    "p95_ms",
    "p99_ms",
)
# The quantiles stored beside each summary, by the column that holds them.
STORED_QUANTILES = {0.5: "p50_ms", 0.95: "p95_ms", 0.99: "p99_ms"}


@dataclass(frozen=True)
class RollupKey:
    """What a rollup is about."""

    model_name: str
    model_version: str
    operation: str
    hardware_class: str


@dataclass(frozen=True)
class Rollup:
    """One interval of one key's traffic."""

    key: RollupKey
    interval_s: int
    bucket_start_unix_s: int
    requests: int
    errors: int
    busy_ns: int
    input_tokens: int
    output_tokens: int
    latency: LatencySketch


@dataclass(frozen=True)
class RollupOptions:
    """How rollups are cut."""

    interval_s: int = 60
    settle_s: int = 30
    late_s: int = 300
    max_span_s: int = 6 * 3600

    def __post_init__(self) -> None:
        for name in ("interval_s", "settle_s", "late_s", "max_span_s"):
            if getattr(self, name) < 0 or (name == "interval_s" and self.interval_s == 0):
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")


def summarise(rows: Sequence[tuple[object, ...]], interval_s: int) -> list[Rollup]:
    """Rollups of raw span rows ``(model, version, operation, hardware, start_ns, end_ns, status, in, out)``."""
    groups: dict[tuple[RollupKey, int], list[tuple[object, ...]]] = defaultdict(list)
    for row in rows:
        model, version, operation, hardware, start = row[:5]
        key = RollupKey(str(model), str(version or ""), str(operation or ""), str(hardware or ""))
        bucket = int(start) // NANOS // interval_s * interval_s  # type: ignore[call-overload]
        groups[(key, bucket)].append(row)
    rollups = []
    for (key, bucket), members in groups.items():
        columns = np.array([member[4:9] for member in members], dtype=object)
        starts = columns[:, 0].astype(np.int64)
        ends = columns[:, 1].astype(np.int64)
        durations_ns = np.maximum(ends - starts, 0)
        rollups.append(
            Rollup(
                key=key,
                interval_s=interval_s,
                bucket_start_unix_s=bucket,
                requests=len(members),
                errors=int(np.count_nonzero(columns[:, 2] == 2)),
                busy_ns=int(durations_ns.sum()),
                input_tokens=int(sum(value or 0 for value in columns[:, 3])),
                output_tokens=int(sum(value or 0 for value in columns[:, 4])),
                latency=LatencySketch.from_durations_ms(durations_ns / 1e6),
            )
        )
    return rollups


class RollupJob:
    """Computes and stores rollups for whatever intervals are due."""

    def __init__(self, engine: Engine, options: RollupOptions | None = None) -> None:
        self._engine = engine
        self.options = options or RollupOptions()

    def recomputable_from(self) -> int | None:
        """The earliest second a later run may still recompute; None before the first rollup."""
        interval = self.options.interval_s
        with self._engine.connect() as connection:
            newest = connection.execute(
                select(func.max(SpanRollupRow.bucket_start_unix_s)).where(SpanRollupRow.interval_s == interval)
            ).scalar_one_or_none()
        return None if newest is None else (int(newest) - self.options.late_s) // interval * interval

    def due_range(self, now_s: float) -> tuple[int, int] | None:
        """The ``[start, end)`` seconds to (re)compute now, or None when nothing is due."""
        interval = self.options.interval_s
        end = int(now_s - self.options.settle_s) // interval * interval
        with self._engine.connect() as connection:
            newest = connection.execute(
                select(func.max(SpanRollupRow.bucket_start_unix_s)).where(SpanRollupRow.interval_s == interval)
            ).scalar_one_or_none()
            if newest is None:
                first = connection.execute(
                    select(func.min(SpanRow.start_unix_nano)).where(SpanRow.is_inference.is_(True))
                ).scalar_one_or_none()
                if first is None:
                    return None
                start = int(first) // NANOS // interval * interval
            else:
                start = (int(newest) - self.options.late_s) // interval * interval
        end = min(end, start + self.options.max_span_s)
        return (start, end) if end > start else None

    def run_once(self, now_s: float | None = None) -> list[Rollup]:
        """Recompute the due intervals from raw spans and upsert them; returns what was written."""
        due = self.due_range(time.time() if now_s is None else now_s)
        if due is None:
            return []
        return self.recompute(*due)

    def recompute(self, start_s: int, end_s: int) -> list[Rollup]:
        """Recompute rollups for spans starting in ``[start_s, end_s)`` and upsert them."""
        query = select(
            SpanRow.model_name,
            SpanRow.model_version,
            SpanRow.operation,
            SpanRow.hardware_class,
            SpanRow.start_unix_nano,
            SpanRow.end_unix_nano,
            SpanRow.status_code,
            SpanRow.input_tokens,
            SpanRow.output_tokens,
        ).where(
            SpanRow.is_inference.is_(True),
            SpanRow.start_unix_nano >= start_s * NANOS,
            SpanRow.start_unix_nano < end_s * NANOS,
        )
        with self._engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(query)]
        rollups = summarise(rows, self.options.interval_s)
        store_rollups(self._engine, rollups)
        return rollups


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def store_rollups(engine: Engine, rollups: Sequence[Rollup]) -> None:
    """Upsert rollups on their key."""
    if not rollups:
        return
    statement = upsert(SpanRollupRow, engine.dialect.name, index_elements=_KEY, update_columns=_VALUES)
    with engine.begin() as connection:
        for rollup in rollups:
            connection.execute(
                statement,
                {
                    "model_name": rollup.key.model_name,
                    "model_version": rollup.key.model_version,
                    "operation": rollup.key.operation,
                    "hardware_class": rollup.key.hardware_class,
                    "interval_s": rollup.interval_s,
                    "bucket_start_unix_s": rollup.bucket_start_unix_s,
                    "requests": rollup.requests,
                    "errors": rollup.errors,
                    "busy_ns": rollup.busy_ns,
                    "input_tokens": rollup.input_tokens,
                    "output_tokens": rollup.output_tokens,
                    "latency_sketch": rollup.latency.to_bytes(),
                    **{column: _finite_or_none(rollup.latency.quantile(q)) for q, column in STORED_QUANTILES.items()},
                },
            )


def load_rollups(
    engine: Engine,
    start_s: int,
    end_s: int,
    interval_s: int = 60,
    *,
    model_name: str | None = None,
    model_names: Collection[str] | None = None,
) -> list[Rollup]:
    """Stored rollups with buckets in ``[start_s, end_s)``, oldest first; of the named model(s) when given."""
    columns = [
        SpanRollupRow.model_name,
        SpanRollupRow.model_version,
        SpanRollupRow.operation,
        SpanRollupRow.hardware_class,
        SpanRollupRow.bucket_start_unix_s,
        SpanRollupRow.requests,
        SpanRollupRow.errors,
        SpanRollupRow.busy_ns,
        SpanRollupRow.input_tokens,
        SpanRollupRow.output_tokens,
        SpanRollupRow.latency_sketch,
    ]
    query = (
        select(*columns)
        .where(
            SpanRollupRow.interval_s == interval_s,
            SpanRollupRow.bucket_start_unix_s >= start_s,
            SpanRollupRow.bucket_start_unix_s < end_s,
        )
        .order_by(SpanRollupRow.bucket_start_unix_s)
    )
    if model_name is not None:
        query = query.where(SpanRollupRow.model_name == model_name)
    if model_names is not None:
        query = query.where(SpanRollupRow.model_name.in_(sorted(model_names)))
    keys: dict[tuple[str, str, str, str], RollupKey] = {}
    rollups = []
    # Plain columns, not ORM rows, and one RollupKey per key: this runs over a day of rollups per pass.
    with engine.connect() as connection:
        for row in connection.execute(query):
            values: tuple[Any, ...] = tuple(row)
            model, version, operation, hardware, bucket, requests, errors, busy, inputs, outputs, sketch = values
            names = (model, version, operation, hardware)
            key = keys.get(names) or keys.setdefault(names, RollupKey(*names))
            rollups.append(
                Rollup(
                    key, interval_s, bucket, requests, errors, busy, inputs, outputs, LatencySketch.from_bytes(sketch)
                )
            )
    return rollups
