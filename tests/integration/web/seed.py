"""Stored data for the list endpoints and pages: rollups of two model versions, findings, a shadow run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from collector.core.findings import store_findings
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey, store_rollups
from shadow.store import create_run, update_run


def minute_floor(moment: datetime) -> int:
    """The start of the minute holding ``moment``, in unix seconds."""
    return int(moment.timestamp()) // 60 * 60


def seed_rollups(engine: Engine, now: datetime) -> None:
    """fraud 3 (cpu, 100 requests a minute at ~20 ms, 2 errors) and fraud 4 (nvidia-t4, 50 at ~80 ms, none) for 10
    minutes before ``now``."""
    rollups = []
    last = minute_floor(now) - 60
    for back in range(10):
        bucket = last - back * 60
        fast = LatencySketch.from_durations_ms(np.full(100, 20.0))
        slow = LatencySketch.from_durations_ms(np.full(50, 80.0))
        rollups.append(
            Rollup(RollupKey("fraud", "3", "predict", "cpu"), 60, bucket, 100, 2, 100 * 20_000_000, 0, 0, fast)
        )
        rollups.append(
            Rollup(RollupKey("fraud", "4", "predict", "nvidia-t4"), 60, bucket, 50, 0, 50 * 80_000_000, 0, 0, slow)
        )
    store_rollups(engine, rollups)


def latency_finding(end: datetime, *, version: str = "3", firing: bool = True, value: float = 850.0) -> Finding:
    """A latency finding for the minute ending at ``end``."""
    return Finding(
        detector="latency",
        model_name="fraud",
        model_version=version,
        subject="predict",
        severity="warning" if firing else "info",
        firing=firing,
        window_start=end - timedelta(minutes=1),
        window_end=end,
        summary=f"p99 latency of predict is {value:.0f} ms, expected 200 ms",
        value=value,
        expected=200.0,
        band_low=150.0,
        band_high=260.0,
    )


def seed_findings(engine: Engine, now: datetime) -> None:
    """Five latency findings of fraud 3 (the newest firing) and one quiet one of fraud 4."""
    end = datetime.fromtimestamp(minute_floor(now), tz=UTC)
    store_findings(
        engine,
        [latency_finding(end - timedelta(minutes=n), firing=n == 0, value=850.0 - n) for n in range(5)]
        + [latency_finding(end, version="4", firing=False, value=90.0)],
    )


def seed_shadow_runs(engine: Engine) -> tuple[str, str]:
    """A failed run of fraud 3 and a queued one of fraud 4; their ids."""
    failed = create_run(engine, "fraud", "3", {"variants": "int8-dynamic"})
    update_run(engine, failed, state="failed", error="no recorded inputs")
    queued = create_run(engine, "fraud", "4", {"variants": "fp16"})
    return failed, queued
