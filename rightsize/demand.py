"""Demand: a model's per-minute request rates over a window, from the span rollups.

Minutes inside the window without a rollup had no traffic and count as zero; the window starts at the first
minute with traffic when that is later than asked, so a model deployed three days ago is not averaged over
fourteen. Hours are UTC; the week starts on Monday.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.core.storage.tables import SpanRollupRow

MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
# The Unix epoch was a Thursday: shifting by three days puts Monday 00:00 UTC at hour 0 of the week.
_MONDAY_SHIFT_H = 72
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class HourDemand:
    """One hour of the daily (0..23) or weekly (0..167, Monday 00:00 UTC first) shape, in requests/s."""

    slot: int
    mean_rate: float
    peak_rate: float  # the peak quantile of this hour's per-minute rates


@dataclass(frozen=True)
class Demand:
    """What a model was asked for over the window."""

    model_name: str
    model_version: str | None
    start_unix_s: int
    end_unix_s: int
    requests: int
    active_minutes: int
    peak_quantile: float
    peak_rate: float
    max_rate: float
    mean_rate: float
    busy_s: float  # summed span durations: replica-seconds of work
    daily: tuple[HourDemand, ...]
    weekly: tuple[HourDemand, ...]  # empty when the window is shorter than a week
    hardware_classes: tuple[tuple[str, int], ...]  # (class, requests), busiest first

    @property
    def minutes(self) -> int:
        """Minutes in the window."""
        return (self.end_unix_s - self.start_unix_s) // MINUTE

    @property
    def busy_replicas(self) -> float:
        """Average replicas kept busy: busy seconds per second of the window (today's busy share times replicas)."""
        span = self.end_unix_s - self.start_unix_s
        return self.busy_s / span if span > 0 else 0.0

    @property
    def current_hardware(self) -> str | None:
        """The hardware class that served most requests."""
        return self.hardware_classes[0][0] if self.hardware_classes else None


def _shape(rates: np.ndarray, slots: np.ndarray, count: int, quantile: float) -> list[HourDemand]:
    shape = []
    for slot in range(count):
        inside = rates[slots == slot]
        if inside.size == 0:
            shape.append(HourDemand(slot, 0.0, 0.0))
        else:
            shape.append(HourDemand(slot, float(inside.mean()), float(np.quantile(inside, quantile))))
    return shape


def load_demand(
    engine: Engine,
    model_name: str,
    model_version: str | None,
    *,
    since_unix_s: int,
    now_unix_s: int,
    peak_quantile: float,
) -> Demand:
    """Per-minute rates of ``model_name`` (one version, or all) from 60-second rollups in [since, now)."""
    where = [
        SpanRollupRow.model_name == model_name,
        SpanRollupRow.interval_s == MINUTE,
        SpanRollupRow.bucket_start_unix_s >= since_unix_s,
        SpanRollupRow.bucket_start_unix_s < now_unix_s,
    ]
    if model_version is not None:
        where.append(SpanRollupRow.model_version == model_version)
    per_minute = (
        select(
            SpanRollupRow.bucket_start_unix_s,
            func.sum(SpanRollupRow.requests),
            func.sum(SpanRollupRow.busy_ns),
        )
        .where(*where)
        .group_by(SpanRollupRow.bucket_start_unix_s)
        .order_by(SpanRollupRow.bucket_start_unix_s)
    )
    per_class = (
        select(SpanRollupRow.hardware_class, func.sum(SpanRollupRow.requests))
        .where(*where)
        .group_by(SpanRollupRow.hardware_class)
    )
    with engine.connect() as connection:
        rows = [(int(b), int(r or 0), int(n or 0)) for b, r, n in connection.execute(per_minute)]
        classes = sorted(((str(c), int(r or 0)) for c, r in connection.execute(per_class)), key=lambda x: (-x[1], x[0]))
    end = now_unix_s // MINUTE * MINUTE
    start = max(since_unix_s // MINUTE * MINUTE, rows[0][0] if rows else end)
    count = max((end - start) // MINUTE, 0)
    requests = np.zeros(count, dtype=np.float64)
    busy_ns = 0
    for bucket, minute_requests, minute_busy in rows:
        index = (bucket - start) // MINUTE
        if 0 <= index < count:
            requests[index] += minute_requests
            busy_ns += minute_busy
    rates = requests / MINUTE
    starts = start + MINUTE * np.arange(count, dtype=np.int64)
    hours = starts // HOUR
    has_week = count * MINUTE >= WEEK
    empty = count == 0
    return Demand(
        model_name=model_name,
        model_version=model_version,
        start_unix_s=start,
        end_unix_s=start + count * MINUTE,
        requests=int(requests.sum()),
        active_minutes=int((requests > 0).sum()),
        peak_quantile=peak_quantile,
        peak_rate=0.0 if empty else float(np.quantile(rates, peak_quantile)),
        max_rate=0.0 if empty else float(rates.max()),
        mean_rate=0.0 if empty else float(rates.mean()),
        busy_s=busy_ns / 1e9,
        daily=tuple(_shape(rates, hours % 24, 24, peak_quantile)) if not empty else (),
        weekly=tuple(_shape(rates, (hours + _MONDAY_SHIFT_H) % 168, 168, peak_quantile)) if has_week else (),
        hardware_classes=tuple(classes),
    )


def weekly_label(slot: int) -> str:
    """``"Tue 14:00"`` for hour ``slot`` of the week."""
    return f"{WEEKDAYS[slot // 24]} {slot % 24:02d}:00"
