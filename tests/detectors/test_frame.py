"""Rollups as columns on SQLite and PostgreSQL: the same answers as the row-by-row path, merges where needed."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from collector.core.pricing import Pricing, TokenPrice
from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import SpanRollupRow
from detectors.cost import cost_report, cost_report_frame
from detectors.cost_anomaly import CostAnomalyDetector, CostAnomalyOptions
from detectors.frame import latency_columns, load_frame
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey, load_rollups, store_rollups
from detectors.scheduler import DetectorScheduler, SchedulerOptions

END = 1_763_000_000 // 3600 * 3600
MINUTES = 150


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of each backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def minutes(key: RollupKey, level_ms: float, step_at: int | None = None, tokens: int = 0) -> list[Rollup]:
    """MINUTES one-minute rollups of 40 requests around ``level_ms``, tripled from minute ``step_at`` on."""
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    rollups = []
    for minute in range(MINUTES):
        level = level_ms * (3 if step_at is not None and minute >= step_at else 1)
        sketch = LatencySketch.from_durations_ms(level * rng.lognormal(0.0, 0.05, 40))
        start = END - (MINUTES - minute) * 60
        rollups.append(Rollup(key, 60, start, 40, 0, 40 * 10**8, tokens * 40, tokens * 10, sketch))
    return rollups


def test_frame_holds_what_the_rows_hold(engine: Engine) -> None:
    """Keys, buckets, counts and the stored p95 read back as columns, ordered by key then time."""
    stored = minutes(RollupKey("b", "1", "predict", "cpu"), 100.0) + minutes(RollupKey("a", "2", "chat", ""), 50.0)
    store_rollups(engine, stored)
    frame = load_frame(engine, END - 3600, END)
    assert frame.keys == (RollupKey("a", "2", "chat", ""), RollupKey("b", "1", "predict", "cpu"))
    assert len(frame) == 120
    assert frame.key.tolist() == [0] * 60 + [1] * 60
    assert frame.bucket[:60].tolist() == [END - 3600 + 60 * n for n in range(60)]
    assert int(frame.requests.sum()) == 120 * 40
    expected = [rollup.latency.quantile(0.95) for rollup in stored[MINUTES - 60 : MINUTES]]
    assert frame.quantile_ms[60:].tolist() == pytest.approx(expected)
    assert len(load_frame(engine, END, END + 60)) == 0


def test_series_on_two_hardware_classes_or_without_quantiles_are_merged(engine: Engine) -> None:
    """Quantiles do not add across hardware classes, and old rows have none: those series take the summaries."""
    store_rollups(engine, minutes(RollupKey("split", "1", "predict", "cpu"), 100.0))
    store_rollups(engine, minutes(RollupKey("split", "1", "predict", "nvidia-l4"), 100.0))
    store_rollups(engine, minutes(RollupKey("old", "1", "predict", "cpu"), 100.0))
    store_rollups(engine, minutes(RollupKey("plain", "1", "predict", "cpu"), 100.0))
    with engine.begin() as connection:
        connection.execute(update(SpanRollupRow).where(SpanRollupRow.model_name == "old").values(p95_ms=None))
    ready, merge = latency_columns(load_frame(engine, END - 9000, END))
    assert [series.key for series in ready] == [("plain", "1", "predict")]
    assert merge == {("split", "1", "predict"), ("old", "1", "predict")}


def test_a_pass_over_columns_flags_what_the_row_path_flags(engine: Engine) -> None:
    """A step is flagged on one class, on two classes (merged) and on old rows alike; steady models are not."""
    for key, step in [
        (RollupKey("stepper", "1", "predict", "cpu"), MINUTES - 2),
        (RollupKey("split", "1", "predict", "cpu"), MINUTES - 2),
        (RollupKey("split", "1", "predict", "nvidia-l4"), MINUTES - 2),
        (RollupKey("old", "1", "predict", "cpu"), MINUTES - 2),
        (RollupKey("steady", "1", "predict", "cpu"), None),
    ]:
        store_rollups(engine, minutes(key, 100.0, step))
    with engine.begin() as connection:
        connection.execute(update(SpanRollupRow).where(SpanRollupRow.model_name == "old").values(p95_ms=None))
    found = DetectorScheduler(engine, SchedulerOptions()).evaluate_once(now_s=END + 30)
    assert sorted(f.model_name for f in found if f.detector == "latency" and f.firing) == ["old", "split", "stepper"]


def test_cost_on_columns_equals_cost_on_rows(engine: Engine) -> None:
    """evaluate_frame and evaluate give the same verdicts, contributors included."""
    pricing = Pricing(hardware={"cpu": 3.6}, tokens={"chat": TokenPrice(2.5, 10.0)})
    options = CostAnomalyOptions(window_s=1800, min_impact_usd=0.01, min_impact_percent=10)
    stored = minutes(RollupKey("chat", "1", "chat", ""), 50.0, tokens=1000)
    stored += [replace_version(r, "2", 2) for r in minutes(RollupKey("chat", "1", "chat", ""), 50.0, tokens=1000)][-30:]
    stored += minutes(RollupKey("fraud", "1", "predict", "cpu"), 10.0)
    store_rollups(engine, stored)
    detector = CostAnomalyDetector(pricing, options)
    on_rows = detector.evaluate(load_rollups(engine, END - 9000, END), END)
    on_columns = detector.evaluate_frame(load_frame(engine, END - 9000, END), END)
    assert on_columns == on_rows
    assert [(v.model_name, v.firing) for v in on_columns] == [("chat", True), ("fraud", False)]


def replace_version(rollup: Rollup, version: str, factor: int) -> Rollup:
    """The same minute served by another version using ``factor`` times the tokens."""
    key = RollupKey(rollup.key.model_name, version, rollup.key.operation, rollup.key.hardware_class)
    return Rollup(
        key,
        rollup.interval_s,
        rollup.bucket_start_unix_s,
        rollup.requests,
        rollup.errors,
        rollup.busy_ns,
        rollup.input_tokens * factor,
        rollup.output_tokens * factor,
        rollup.latency,
    )


def test_a_name_with_the_key_separator_is_still_read_right(engine: Engine) -> None:
    """Keys travel joined by U+001F; a model named with one is resolved through the database instead."""
    odd = RollupKey("odd\x1fname", "1", "predict", "cpu")
    store_rollups(engine, minutes(odd, 100.0)[-3:] + minutes(RollupKey("plain", "", "", ""), 100.0)[-3:])
    frame = load_frame(engine, END - 3600, END)
    assert set(frame.keys) == {odd, RollupKey("plain", "", "", "")}
    assert frame.key.tolist() == [0, 0, 0, 1, 1, 1]


def test_cost_report_on_columns_equals_the_report_on_rows(engine: Engine) -> None:
    """Summing usage per key before pricing gives the per-rollup answer, and the model filter holds."""
    pricing = Pricing(hardware={"cpu": 3.6}, tokens={"chat": TokenPrice(2.5, 10.0)})
    stored = minutes(RollupKey("chat", "1", "chat", ""), 50.0, tokens=1000)
    stored += minutes(RollupKey("fraud", "1", "predict", "cpu"), 10.0)
    stored += minutes(RollupKey("fraud", "1", "explain", "tpu"), 10.0)[-5:]
    store_rollups(engine, stored)
    on_rows = cost_report(load_rollups(engine, END - 9000, END), pricing)
    on_columns = cost_report_frame(load_frame(engine, END - 9000, END), pricing)
    assert [(line.model_name, line.requests, line.unpriced_requests) for line in on_columns] == [
        ("chat", 6000, 0),
        ("fraud", 6200, 200),
    ]
    for columns, rows in zip(on_columns, on_rows, strict=True):
        assert (columns.model_name, columns.active_s, columns.busy_s) == (rows.model_name, rows.active_s, rows.busy_s)
        assert columns.total_usd == pytest.approx(rows.total_usd)
    (fraud,) = cost_report_frame(load_frame(engine, END - 9000, END, model_name="fraud"), pricing)
    assert fraud.model_name == "fraud"
