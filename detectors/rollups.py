"""Span rollups: per model version, operation and hardware class, per interval, from the raw spans.

A rollup is recomputed whole from the raw spans of its interval and upserted, so running the job twice,
on two replicas, or after a restart gives the same rows. Each run recomputes the intervals that received
spans since the last run, found by row id (a cursor in ``job_cursors``), not by how old the spans are: a
service flushing a 30-minute backlog, or a 90-minute backfill, is rolled up when it arrives, per model,
whatever other models sent meanwhile. At most ``max_ids_per_run`` new rows are read per run, so a long
outage is caught up in steps.

A span is too late only when retention has already pruned raw spans of its interval (older than
``storage.span_retention_days`` when they were pruned): recomputing that interval from what is left would
undercount it, so such spans are counted (``RollupRun.too_late``) and left out. Counts saturate at the
BIGINT maximum rather than overflow, and one rollup the database refuses costs only that rollup.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.core.limits import INT64_MAX
from collector.core.storage.cursors import advance, next_window, read_cursor, seen_through
from collector.core.storage.failures import describe_error, is_transient
from collector.core.storage.tables import SpanRollupRow, SpanRow
from collector.core.storage.upsert import upsert
from detectors.latency_sketch import LatencySketch
from detectors.retention import PRUNED_BEFORE

logger = logging.getLogger(__name__)

NANOS = 1_000_000_000
# The job's place in the spans table, by row id (collector.core.storage.cursors).
CURSOR = "span_rollups"
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
    # How long detectors wait after an interval ends before judging it (spans still in flight).
    settle_s: int = 30
    max_ids_per_run: int = 2_000_000
    # Hours of minute rollups older than the hourly ones merged per run (detectors.hourly_rollups): a
    # database rolled up before hourly rollups existed is caught up in steps this size.
    hourly_backfill_hours: int = 6

    def __post_init__(self) -> None:
        for name in ("interval_s", "settle_s", "max_ids_per_run", "hourly_backfill_hours"):
            if getattr(self, name) < 0 or (name != "settle_s" and getattr(self, name) == 0):
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class RollupRun:
    """What one run did: the rollups it wrote, spans too late to roll up, and rollups the database refused."""

    rollups: list[Rollup] = field(default_factory=list)
    too_late: int = 0
    refused: int = 0


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
                busy_ns=saturated_sum(durations_ns.tolist()),
                input_tokens=saturated_sum(value or 0 for value in columns[:, 3]),
                output_tokens=saturated_sum(value or 0 for value in columns[:, 4]),
                latency=LatencySketch.from_durations_ms(durations_ns / 1e6),
            )
        )
    return rollups


def saturated_sum(values: Collection[int] | Any) -> int:
    """The sum in Python integers (numpy's would wrap around), held at the BIGINT maximum."""
    return min(sum(int(value) for value in values), INT64_MAX)


class RollupJob:
    """Computes and stores rollups for whatever intervals are due."""

    def __init__(self, engine: Engine, options: RollupOptions | None = None) -> None:
        self._engine = engine
        self.options = options or RollupOptions()

    def rolled_up_through(self) -> int | None:
        """The span id up to which spans have been read and rolled up (retention prunes no span past it)."""
        with self._engine.connect() as connection:
            return seen_through(connection, CURSOR)

    def run_once(self) -> RollupRun:
        """Recompute the intervals that received spans since the last run and upsert them."""
        interval = self.options.interval_s
        with self._engine.connect() as connection:
            pruned_before = read_cursor(connection, PRUNED_BEFORE)
            top = connection.execute(select(func.max(SpanRow.id))).scalar_one_or_none()
            window = next_window(connection, CURSOR, top, self.options.max_ids_per_run)
            if window is None:
                # Nothing new; the backfill of hourly rollups still takes its step.
                return RollupRun(refused=self._update_hourly([]))
            bucket = (SpanRow.start_unix_nano // (interval * NANOS)).label("bucket")
            dirty = connection.execute(
                select(bucket, func.count())
                .where(SpanRow.id > window.start_id, SpanRow.id <= window.end_id, SpanRow.is_inference.is_(True))
                .group_by(bucket)
            ).all()
        buckets: list[int] = []
        too_late = 0
        for index, count in dirty:
            start_s = int(index) * interval
            if pruned_before is not None and start_s < pruned_before:
                too_late += int(count)
            else:
                buckets.append(start_s)
        if too_late:
            logger.warning(
                "%d spans arrived for intervals whose raw spans retention has pruned (before %s); they are stored "
                "but not rolled up",
                too_late,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(pruned_before or 0)),
            )
        rollups: list[Rollup] = []
        refused = 0
        for start_s, end_s in bucket_ranges(sorted(buckets), interval):
            part = self.recompute(start_s, end_s)
            rollups += part.rollups
            refused += part.refused
        # Before the cursor moves, so hours whose minutes changed are never left behind by a failed run.
        refused += self._update_hourly(buckets)
        with self._engine.begin() as connection:
            advance(connection, window)
        return RollupRun(rollups, too_late, refused)

    def _update_hourly(self, buckets: Sequence[int]) -> int:
        # Imported here: hourly rollups are built on this module.
        from detectors.hourly_rollups import update_hourly

        return update_hourly(self._engine, buckets, self.options.interval_s, self.options.hourly_backfill_hours)

    def recompute(self, start_s: int, end_s: int) -> RollupRun:
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
        refused = store_rollups(self._engine, rollups)
        return RollupRun(rollups, refused=refused)


def bucket_ranges(buckets: Sequence[int], interval: int) -> list[tuple[int, int]]:
    """Sorted bucket starts as ``[start, end)`` runs of adjacent buckets."""
    ranges: list[tuple[int, int]] = []
    for start in buckets:
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + interval)
        else:
            ranges.append((start, start + interval))
    return ranges


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def store_rollups(engine: Engine, rollups: Sequence[Rollup]) -> int:
    """Upsert rollups on their key; returns how many the database refused (each is logged, the rest stored)."""
    if not rollups:
        return 0
    statement = upsert(SpanRollupRow, engine.dialect.name, index_elements=_KEY, update_columns=_VALUES)
    try:
        with engine.begin() as connection:
            connection.execute(statement, [_rollup_row(rollup) for rollup in rollups])
        return 0
    except Exception as error:
        if is_transient(error):
            raise
    refused = 0
    # One key's rollup the database refuses (an index entry too large, say) must not cost the others.
    for rollup in rollups:
        try:
            with engine.begin() as connection:
                connection.execute(statement, _rollup_row(rollup))
        except Exception as error:
            if is_transient(error):
                raise
            refused += 1
            logger.error("the database refused the rollup of %s: %s", rollup.key, describe_error(error))
    return refused


def _rollup_row(rollup: Rollup) -> dict[str, Any]:
    return {
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
    }


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
