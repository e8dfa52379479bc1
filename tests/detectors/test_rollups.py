"""Rollups: late spans are rolled up per model whenever they arrive, and no value can overflow a pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from collector.core.storage.engine import create_engine_for
from collector.core.storage.migrate import upgrade
from collector.core.storage.tables import SpanRollupRow, SpanRow
from detectors.retention import DAY_S, RetentionOptions, prune
from detectors.rollups import RollupJob
from detectors.scheduler import DetectorScheduler

NOW = 1_763_000_000 // 3600 * 3600
NANOS = 1_000_000_000
_serial = iter(range(1, 10**9))


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of each backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def add_spans(engine: Engine, model: str, starts_s: list[int], **fields: Any) -> None:
    """One 100 ms inference span of ``model`` at each start second."""
    rows = []
    for start in starts_s:
        number = next(_serial)
        row = {
            "trace_id": number.to_bytes(16, "big"),
            "span_id": number.to_bytes(8, "big"),
            "name": "predict",
            "kind": 2,
            "service_name": "scorer",
            "model_name": model,
            "model_version": "1",
            "operation": "predict",
            "hardware_class": "cpu",
            "start_unix_nano": start * NANOS,
            "end_unix_nano": start * NANOS + 100_000_000,
            "status_code": 0,
            "is_inference": True,
        }
        rows.append({**row, **fields})
    with engine.begin() as connection:
        connection.execute(insert(SpanRow), rows)


def rolled_up_requests(engine: Engine, model: str, interval_s: int = 60) -> int:
    """Requests of ``model`` over every stored rollup of ``interval_s`` (one-minute or hourly)."""
    with engine.connect() as connection:
        total = connection.execute(
            select(func.sum(SpanRollupRow.requests)).where(
                SpanRollupRow.model_name == model, SpanRollupRow.interval_s == interval_s
            )
        ).scalar_one()
    return int(total or 0)


def test_a_backlog_from_one_model_is_rolled_up_while_another_sends_on_time(engine: Engine) -> None:
    """A service flushing 30 minutes of backlog, and a 90-minute backfill, are rolled up in full, whatever the
    newest rollup of another model says."""
    job = RollupJob(engine)
    add_spans(engine, "on-time", [NOW - 60 + i for i in range(10)])
    job.run_once()
    add_spans(engine, "backlog", [NOW - 1800 + 2 * i for i in range(727)])
    add_spans(engine, "on-time", [NOW + i for i in range(10)])
    job.run_once()
    add_spans(engine, "backfill", [NOW - 5400 + 2 * i for i in range(2700)])
    job.run_once()
    assert rolled_up_requests(engine, "backlog") == 727
    assert rolled_up_requests(engine, "backfill") == 2700
    assert rolled_up_requests(engine, "on-time") == 20


def test_a_late_span_joins_its_interval_without_losing_the_others(engine: Engine) -> None:
    """A span arriving for an interval already rolled up is added to it: the interval is recomputed whole."""
    job = RollupJob(engine)
    add_spans(engine, "fraud", [NOW - 3600 + i for i in range(5)])
    job.run_once()
    job.run_once()  # a run with nothing new changes nothing
    add_spans(engine, "fraud", [NOW - 3600 + 30])
    job.run_once()
    assert rolled_up_requests(engine, "fraud") == 6


def test_spans_for_pruned_intervals_are_counted_too_late(engine: Engine) -> None:
    """Once retention pruned an interval's raw spans, a span arriving for it is counted, not rolled up over
    what is left."""
    job = RollupJob(engine)
    add_spans(engine, "fraud", [NOW - 3 * DAY_S + i for i in range(5)])
    job.run_once()
    pruned = prune(engine, NOW, RetentionOptions(raw_spans_s=DAY_S, rollups_s=None), job.rolled_up_through())
    assert pruned.spans == 5
    add_spans(engine, "fraud", [NOW - 3 * DAY_S + 10, NOW - 60])
    run = job.run_once()
    assert run.too_late == 1
    assert rolled_up_requests(engine, "fraud") == 6


def test_the_scheduler_counts_spans_too_late(engine: Engine) -> None:
    """The detector pass reports late spans to its callback (the service's /metrics counter)."""
    late: list[int] = []
    scheduler = DetectorScheduler(engine, on_late_spans=late.append)
    add_spans(engine, "fraud", [NOW - 30 * DAY_S])
    scheduler.evaluate_once(now_s=NOW)
    add_spans(engine, "fraud", [NOW - 30 * DAY_S + 5])
    scheduler.evaluate_once(now_s=NOW + 60)
    assert late == [1]


def test_sums_saturate_instead_of_overflowing(tmp_path: Path) -> None:
    """Two spans of 2^63-1 tokens each (SQLite stores them) roll up to the BIGINT maximum; the pass goes on."""
    url = f"sqlite:///{tmp_path / 'overflow.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    try:
        add_spans(engine, "greedy", [NOW, NOW + 1], input_tokens=2**63 - 1, output_tokens=2**63 - 1)
        add_spans(engine, "greedy", [NOW + 2], start_unix_nano=0, end_unix_nano=2**63 - 1)
        add_spans(engine, "modest", [NOW, NOW + 1], input_tokens=5)
        DetectorScheduler(engine).evaluate_once(now_s=NOW + 300)
        with engine.connect() as connection:
            rows = dict(
                connection.execute(
                    select(SpanRollupRow.model_name, SpanRollupRow.input_tokens).where(
                        SpanRollupRow.bucket_start_unix_s == NOW // 60 * 60
                    )
                ).all()
            )
        assert rows == {"greedy": 2**63 - 1, "modest": 10}
    finally:
        engine.dispose()
