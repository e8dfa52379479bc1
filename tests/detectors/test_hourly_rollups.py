"""Hourly rollups: each hour is its minutes merged, late spans included, older minutes backfilled, and views
over days read them instead of the minutes with the same answer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import JobCursorRow, SpanRollupRow
from detectors.hourly_rollups import (
    HOUR_S,
    HOURLY_SINCE,
    HOURLY_THROUGH,
    load_rollups_coarse,
    merge_rollups,
    read_hourly_range,
    update_hourly,
)
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupJob, RollupKey, RollupOptions, load_rollups, store_rollups
from detectors.scheduler import DetectorScheduler, SchedulerOptions
from detectors.slo import PERIOD_S, SLO
from tests.detectors.test_rollups import NOW, add_spans

# The backfill a day per run, so a month is covered in a few runs.
DAY_STEPS = RollupOptions(hourly_backfill_hours=24)


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def totals(rollups: list[Rollup]) -> dict[tuple[str, str], tuple[int, int, int, dict[int, int]]]:
    """Requests, errors, busy time and latency counts per model and operation."""
    merged: dict[tuple[str, str], tuple[int, int, int, dict[int, int]]] = {}
    for rollup in rollups:
        key = (rollup.key.model_name, rollup.key.operation)
        requests, errors, busy, counts = merged.get(key, (0, 0, 0, {}))
        counts = dict(counts)
        for bucket, count in rollup.latency.counts.items():
            counts[bucket] = counts.get(bucket, 0) + count
        merged[key] = (requests + rollup.requests, errors + rollup.errors, busy + rollup.busy_ns, counts)
    return merged


def read_since(engine: Engine) -> int | None:
    covered = read_hourly_range(engine)
    return None if covered is None else covered[0]


def test_an_hour_is_its_minutes_merged_and_late_spans_join_it(engine: Engine) -> None:
    """Hours that are over are built from their minutes; the hour in progress is not; a late span is merged
    into the hour it belongs to."""
    job = RollupJob(engine)
    add_spans(engine, "fraud", [NOW - 2 * HOUR_S + 7 * i for i in range(900)], status_code=0)
    add_spans(engine, "fraud", [NOW - HOUR_S + 5], status_code=2, end_unix_nano=(NOW - HOUR_S + 6) * 10**9)
    add_spans(engine, "fraud", [NOW + 10])  # the hour in progress
    job.run_once()
    assert read_hourly_range(engine) == (NOW - 2 * HOUR_S, NOW)
    hours = load_rollups(engine, NOW - 2 * HOUR_S, NOW + HOUR_S, HOUR_S)
    assert [h.bucket_start_unix_s for h in hours] == [NOW - 2 * HOUR_S, NOW - HOUR_S]
    assert totals(hours) == totals(load_rollups(engine, NOW - 2 * HOUR_S, NOW, 60))
    assert hours[1].errors == 1
    # A late span for an hour already built is merged into it.
    add_spans(engine, "fraud", [NOW - 2 * HOUR_S + 1])
    job.run_once()
    late = load_rollups(engine, NOW - 2 * HOUR_S, NOW - HOUR_S, HOUR_S)
    assert late[0].requests == hours[0].requests + 1


def test_minutes_from_before_hourly_rollups_are_backfilled_a_day_per_run(engine: Engine) -> None:
    """A database rolled up before this version: the newest hour is built first, then (here) a day per run
    back to the oldest minute; the views use minutes until the hours are there."""
    job = RollupJob(engine, DAY_STEPS)
    add_spans(engine, "fraud", [NOW - day * 86400 - 600 for day in range(3)])
    job.run_once()
    # Forget the hours, as a database from before hourly rollups would have none.
    with engine.begin() as connection:
        connection.execute(delete(SpanRollupRow).where(SpanRollupRow.interval_s == HOUR_S))
        connection.execute(delete(JobCursorRow).where(JobCursorRow.name.in_((HOURLY_SINCE, HOURLY_THROUGH))))
    assert read_since(engine) is None
    add_spans(engine, "fraud", [NOW + 5])
    job.run_once()
    newest_hour = NOW
    assert read_since(engine) == newest_hour - 24 * HOUR_S
    job.run_once()
    job.run_once()
    oldest_hour = (NOW - 2 * 86400 - 600) // HOUR_S * HOUR_S
    assert read_since(engine) == oldest_hour
    with engine.connect() as connection:
        hours = connection.scalars(
            select(SpanRollupRow.bucket_start_unix_s).where(SpanRollupRow.interval_s == HOUR_S)
        ).all()
    assert sorted(hours) == [oldest_hour, oldest_hour + 86400, NOW - HOUR_S]
    assert read_hourly_range(engine) == (oldest_hour, NOW)


def test_a_long_view_reads_hours_with_the_minutes_answer(engine: Engine) -> None:
    """Over 30 days: minutes at the ragged edges, hours between, and the same totals as all the minutes."""
    job = RollupJob(engine, DAY_STEPS)
    start, end = NOW - 30 * 86400 + 1234, NOW + 61
    # Traffic through the month, and in the partial hours at both ends of the view.
    starts = [*range(NOW - 29 * 86400, NOW, 1193), start + 5, start + 1900, NOW + 30]
    add_spans(engine, "fraud", starts)
    add_spans(engine, "other", starts[::5])
    for _ in range(31):  # enough runs for the backfill to cover the 30 days
        job.run_once()
    coarse = load_rollups_coarse(engine, start, end, 60)
    fine = load_rollups(engine, start, end, 60)
    assert totals(coarse) == totals(fine)
    assert {r.interval_s for r in coarse} == {60, HOUR_S}
    assert len(coarse) < len(fine) / 2
    only_fraud = load_rollups_coarse(engine, start, end, 60, model_name="fraud")
    assert {r.key.model_name for r in only_fraud} == {"fraud"}


def test_merging_needs_whole_buckets() -> None:
    assert merge_rollups([], HOUR_S) == []


def test_the_slo_budget_left_is_stated_from_thirty_days_of_rollups(engine: Engine) -> None:
    """The scheduler reads minutes for the burn windows and hourly rollups for the rest of the 30-day period:
    the budget left is stated, counted over every request of the 30 days (before, it read 7 days)."""
    key = RollupKey("fraud", "1", "predict", "cpu")
    end = NOW
    sketch = LatencySketch.from_durations_ms(np.full(100, 10.0))
    # 100 requests an hour for 31 days, 1 error each; 10 errors an hour in the last 2 days.
    stored = [
        Rollup(key, 60, end - hours * HOUR_S + 120, 100, 10 if hours <= 48 else 1, 0, 0, 0, sketch)
        for hours in range(1, 31 * 24 + 1)
    ]
    store_rollups(engine, stored)
    update_hourly(engine, [], 60, backfill_hours=31 * 24)
    slo = SLO("fraud", "availability", 0.99)
    scheduler = DetectorScheduler(engine, SchedulerOptions(slos=(slo,)))
    found = [f for f in scheduler.evaluate_once(now_s=end + 30) if f.detector == "slo.burn"]
    in_period = [r for r in stored if r.bucket_start_unix_s >= end - PERIOD_S]
    bad, total = sum(r.errors for r in in_period), sum(r.requests for r in in_period)
    assert found[0].details["period_total"] == total
    assert found[0].details["period_bad"] == bad
    assert found[0].details["budget_remaining"] == pytest.approx(1 - (bad / total) / 0.01)
    assert "of the 30-day error budget left" in found[0].summary
