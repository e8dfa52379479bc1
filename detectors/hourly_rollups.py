"""Hourly rollups: the one-minute rollups of each hour merged, for views over days and weeks.

A page over 30 days would otherwise read and decode 43,200 one-minute rollups (each with its latency sketch)
per model version, operation and hardware class. Hourly rows live in the same table (``interval_s`` 3600)
and are built from the minute rows, never from raw spans, once an hour is over (when a minute of a later
hour is rolled up), and again whenever one of its minutes is recomputed (late spans): an hour is as
complete as its minutes. The hour in progress is never built; it is read from its minutes.

Minute rollups stored before hourly ones existed are covered by a backfill that walks back from the first
hour built, a few hours per run (``RollupOptions.hourly_backfill_hours``). ``job_cursors`` keeps where the
hourly rows are complete, ``[HOURLY_SINCE, HOURLY_THROUGH)``; readers (``load_rollups_coarse``) use minute
rows outside it. Sums saturate like the minute sums; latency sketches merge exactly (counts added).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Final

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from collector.core.storage.cursors import read_cursor, write_cursor
from collector.core.storage.tables import SpanRollupRow
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey, bucket_ranges, load_rollups, saturated_sum, store_rollups

HOUR_S: Final = 3600
# job_cursors: hourly rollups are complete from this hour on (the backfill moves it back) ...
HOURLY_SINCE: Final = "span_rollups_hourly.since"
# ... up to this one, the first not built yet (the hour in progress, or one whose minutes are still coming).
HOURLY_THROUGH: Final = "span_rollups_hourly.through"


def hour_of(unix_s: int) -> int:
    """The start of the hour holding ``unix_s``."""
    return unix_s // HOUR_S * HOUR_S


def merge_rollups(rollups: Iterable[Rollup], interval_s: int) -> list[Rollup]:
    """The rollups merged per key into buckets of ``interval_s`` (a multiple of theirs)."""
    groups: dict[tuple[RollupKey, int], list[Rollup]] = defaultdict(list)
    for rollup in rollups:
        groups[(rollup.key, rollup.bucket_start_unix_s // interval_s * interval_s)].append(rollup)
    merged = []
    for (key, bucket), members in groups.items():
        latency = LatencySketch.combined(member.latency for member in members)
        assert latency is not None  # every group has a member
        merged.append(
            Rollup(
                key=key,
                interval_s=interval_s,
                bucket_start_unix_s=bucket,
                requests=saturated_sum(m.requests for m in members),
                errors=saturated_sum(m.errors for m in members),
                busy_ns=saturated_sum(m.busy_ns for m in members),
                input_tokens=saturated_sum(m.input_tokens for m in members),
                output_tokens=saturated_sum(m.output_tokens for m in members),
                latency=latency,
            )
        )
    return merged


def rebuild_hours(engine: Engine, hours: Iterable[int], minute_s: int) -> int:
    """Rebuild the hourly rollups of ``hours`` (hour starts) from their minute rollups; returns how many rows
    the database refused."""
    refused = 0
    for start, end in bucket_ranges(sorted({hour_of(hour) for hour in hours}), HOUR_S):
        minutes = load_rollups(engine, start, end, minute_s)
        refused += store_rollups(engine, merge_rollups(minutes, HOUR_S))
    return refused


def update_hourly(engine: Engine, touched_buckets: Iterable[int], minute_s: int, backfill_hours: int) -> int:
    """After a rollup run: build the hours that are over, rebuild built hours whose minutes it recomputed, and
    backfill up to ``backfill_hours`` older hours; returns how many rows the database refused."""
    if HOUR_S % minute_s or minute_s >= HOUR_S:
        return 0  # minute rollups that do not tile an hour are not merged into hours
    # Ordered and limited rather than MIN/MAX under a WHERE, so both walk the bucket index from one end.
    minutes = select(SpanRollupRow.bucket_start_unix_s).where(SpanRollupRow.interval_s == minute_s).limit(1)
    with engine.connect() as connection:
        stored = hourly_range(connection)
        oldest = connection.execute(minutes.order_by(SpanRollupRow.bucket_start_unix_s)).scalar_one_or_none()
        newest = connection.execute(minutes.order_by(SpanRollupRow.bucket_start_unix_s.desc())).scalar_one_or_none()
    if newest is None or oldest is None:
        return 0  # nothing rolled up yet
    # Hours before the newest minute's are over; the first run starts the hourly range there, empty.
    over_before = hour_of(int(newest))
    since, through = stored if stored is not None else (over_before, over_before)
    hours = {hour for hour in map(hour_of, touched_buckets) if since <= hour < through}
    hours.update(range(through, over_before, HOUR_S))
    backfill_to = max(min(since, hour_of(int(oldest))), since - backfill_hours * HOUR_S)
    hours.update(range(backfill_to, since, HOUR_S))
    refused = rebuild_hours(engine, hours, minute_s)
    built = (backfill_to, max(through, over_before))
    if built != stored:
        with engine.begin() as connection:
            write_cursor(connection, HOURLY_SINCE, built[0])
            write_cursor(connection, HOURLY_THROUGH, built[1])
    return refused


def hourly_range(connection: Connection) -> tuple[int, int] | None:
    """``[since, through)``: the hours whose hourly rollups are complete; None before the first rollup run."""
    since = read_cursor(connection, HOURLY_SINCE)
    through = read_cursor(connection, HOURLY_THROUGH)
    return None if since is None or through is None else (since, through)


def read_hourly_range(engine: Engine) -> tuple[int, int] | None:
    """``hourly_range`` on a connection of its own."""
    with engine.connect() as connection:
        return hourly_range(connection)


def load_rollups_coarse(
    engine: Engine, start_s: int, end_s: int, minute_s: int, *, model_name: str | None = None
) -> list[Rollup]:
    """``load_rollups`` over ``[start_s, end_s)`` with hourly rows for the whole hours inside it that the
    hourly rollups cover, and minute rows for the rest, oldest first."""
    covered = read_hourly_range(engine)
    if covered is None:
        return load_rollups(engine, start_s, end_s, minute_s, model_name=model_name)
    first_hour = max(-(-start_s // HOUR_S) * HOUR_S, covered[0])
    last_hour = min(hour_of(end_s), covered[1])
    if first_hour >= last_hour:
        return load_rollups(engine, start_s, end_s, minute_s, model_name=model_name)
    head = load_rollups(engine, start_s, first_hour, minute_s, model_name=model_name)
    hours = load_rollups(engine, first_hour, last_hour, HOUR_S, model_name=model_name)
    tail = load_rollups(engine, last_hour, end_s, minute_s, model_name=model_name)
    return head + hours + tail


def load_history(
    engine: Engine, start_s: int, end_s: int, minute_s: int, *, model_names: Collection[str] | None = None
) -> list[Rollup]:
    """Rollups over ``[start_s, end_s)`` (``end_s`` on an hour boundary) as cheaply as the hourly range
    allows, for history beside minute rows from ``end_s`` on: the hourly rows it covers, and the minutes of
    the partial hour at ``start_s`` when it covers from there. Hours the backfill has not reached yet are left
    out, never read as minutes: the history is then shorter, not slower."""
    covered = read_hourly_range(engine)
    if covered is None:
        return []
    first_hour = -(-start_s // HOUR_S) * HOUR_S
    head: list[Rollup] = []
    if covered[0] <= first_hour:
        head = load_rollups(engine, start_s, first_hour, minute_s, model_names=model_names)
    first_hour = max(first_hour, covered[0])
    last_hour = min(hour_of(end_s), covered[1])
    if first_hour >= last_hour:
        return head
    return head + load_rollups(engine, first_hour, last_hour, HOUR_S, model_names=model_names)
