"""Retention on SQLite and PostgreSQL: raw spans and rollups pruned separately, never a span still needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from collector.storage.engine import create_engine_for
from collector.storage.tables import SpanRollupRow, SpanRow
from detectors.retention import DAY_S, RetentionOptions, prune
from detectors.rollups import RollupOptions
from detectors.scheduler import DetectorScheduler, SchedulerOptions

NOW = 1_763_000_000 // 3600 * 3600
NANOS = 1_000_000_000


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of each backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def add_spans(engine: Engine, starts_s: list[int]) -> None:
    """One 100 ms inference span of model fraud at each start second."""
    rows = [
        {
            "trace_id": n.to_bytes(16, "big"),
            "span_id": n.to_bytes(8, "big"),
            "name": "predict",
            "kind": 2,
            "service_name": "scorer",
            "model_name": "fraud",
            "model_version": "1",
            "operation": "predict",
            "hardware_class": "cpu",
            "start_unix_nano": start * NANOS,
            "end_unix_nano": start * NANOS + 100_000_000,
            "status_code": 0,
            "is_inference": True,
        }
        for n, start in enumerate(starts_s, start=1)
    ]
    with engine.begin() as connection:
        connection.execute(insert(SpanRow), rows)


def counts(engine: Engine) -> tuple[int, int]:
    """(spans, rollups) stored."""
    with engine.connect() as connection:
        spans = connection.execute(select(func.count()).select_from(SpanRow)).scalar_one()
        rollups = connection.execute(select(func.count()).select_from(SpanRollupRow)).scalar_one()
    return int(spans), int(rollups)


def test_spans_and_rollups_are_pruned_on_their_own_clocks(engine: Engine) -> None:
    """With 1 day for spans and 3 for rollups, a pass keeps 1 of 4 days of spans and 3 of 4 days of rollups."""
    starts = [NOW - day * DAY_S - 600 for day in range(4)]  # 10 minutes before now, then a day earlier each
    add_spans(engine, starts)
    scheduler = DetectorScheduler(
        engine,
        SchedulerOptions(
            rollup=RollupOptions(max_span_s=5 * DAY_S),
            retention=RetentionOptions(raw_spans_s=DAY_S, rollups_s=3 * DAY_S),
        ),
    )
    scheduler.evaluate_once(now_s=NOW)
    with engine.connect() as connection:
        kept_spans = connection.execute(select(SpanRow.start_unix_nano)).scalars().all()
        kept_rollups = connection.execute(select(SpanRollupRow.bucket_start_unix_s)).scalars().all()
    assert sorted(kept_spans) == [starts[0] * NANOS]
    assert sorted(kept_rollups) == sorted(start // 60 * 60 for start in starts[:3])


def test_spans_not_yet_rolled_up_are_kept_whatever_their_age(engine: Engine) -> None:
    """Before the first rollup nothing is pruned; after it, spans the next run may recompute stay."""
    add_spans(engine, [NOW - 10 * DAY_S, NOW - 200])
    options = RetentionOptions(raw_spans_s=60, rollups_s=None)
    assert prune(engine, NOW, options, recomputable_from_s=None).spans == 0
    assert counts(engine) == (2, 0)
    pruned = prune(engine, NOW, options, recomputable_from_s=NOW - 300)
    assert (pruned.spans, pruned.rollups) == (1, 0)
    assert counts(engine) == (1, 0)


def test_zero_days_keeps_forever() -> None:
    """0 in the configuration means no retention, and a negative window is refused by name."""
    assert RetentionOptions.from_days(0, 0) == RetentionOptions(None, None)
    assert RetentionOptions.from_days(1.5, 90) == RetentionOptions(129_600, 90 * DAY_S)
    with pytest.raises(ValueError, match="`rollups_s` must be > 0 or None"):
        RetentionOptions(rollups_s=0)
