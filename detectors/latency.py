"""Latency anomalies: a robust, seasonal baseline with persistence, hysteresis and a level-shift test.

Per model version and operation, on one latency quantile (p95 by default) of each rollup interval:

- Baseline: median and MAD of log-latency over the history before the evaluated stretch. Log because
  latency is skewed and multiplicative; median and MAD because past incidents must not move the baseline.
  Seasonality: with three weeks of history the baseline is the same hour of the week; with three days,
  the same hour of the day; else the whole trailing window.
- A point is anomalous when its robust z, ``(log x - median) / (1.4826 * MAD)``, exceeds ``z_threshold``
  (3.5, the usual cut). Only upward shifts matter for latency.
- Persistence: the detector fires when ``fire_n`` of the last ``fire_m`` intervals are anomalous (2 of 3:
  a step fires on its second interval, a single spike never does). Hysteresis: once firing it resolves only
  after ``recover_n`` intervals in a row below ``recover_z``, so a flapping signal does not flap.
- Level shift: a one-sided CUSUM on the robust z, ``S = max(0, S + min(z, cut) - k)``, fires above ``h``
  (k=0.5, h=5: an in-control run length near 930 intervals, about 10 for a one-spread shift) when the last
  ``fire_n`` intervals all drift up. It catches a sustained shift too small for the z cut; capping z and
  asking for a drift keep one outlier from looking like a shift.
- Minimum traffic: a point needs ``min_requests`` requests. The scheduler pools consecutive quiet intervals
  into one point until they hold that many (``detectors.latency_pool``), so a model at a few hundred requests
  an hour is judged every few minutes; a point still under the minimum is skipped, neither normal nor not.
- Warm-up: while the history holds fewer than ``warmup_points`` usable points (or the seasonal slot fewer
  than ``min_history_points``), a point is judged against the median of every point so far, with a wider
  spread floor (``warmup_spread_floor``: a young service's spread is unknown, so only a large step fires),
  or against the model's latency SLO threshold when one is configured. Persistence applies as usual; the
  level-shift test does not (its sum needs a settled baseline). History is whatever is stored, so
  backfilled (late) data counts toward warm-up as soon as it is rolled up.
- Cool-down: a firing verdict whose value is back in band is ``cooling_down``; it carries when the
  condition started and the last interval that was out of band, so its summary does not read as a fresh
  in-band measurement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class LatencyPoint:
    """One interval's latency quantile and its traffic."""

    start_s: int
    requests: int
    value_ms: float
    # End of the stretch the point summarises; None for one rollup interval. Pooled points span several.
    end_s: int | None = None


@dataclass(frozen=True)
class LatencyOptions:
    """Detector hyperparameters; the defaults are those the module docstring explains."""

    quantile: float = 0.95
    z_threshold: float = 3.5
    fire_n: int = 2
    fire_m: int = 3
    recover_z: float = 2.0
    recover_n: int = 3
    min_requests: int = 20
    history_s: int = DAY
    # Per seasonal slot: three weeks give three points per hour-of-week slot at hourly intervals.
    min_history_points: int = 3
    cusum_k: float = 0.5
    cusum_h: float = 5.0
    # Floor on the spread of log-latency. A flat history has MAD 0, and quantiles read from the 2% buckets of
    # the latency summary move in 2% steps; below 5% of spread, z would count bucket jitter as anomaly. With
    # the 3.5 cut, the smallest change that can fire is then about +19%.
    mad_floor: float = 0.05
    # Longest stretch of quiet intervals pooled into one point; a stretch that still has too few requests says
    # nothing. An hour: a model at 20 requests an hour still gets a point an hour.
    max_pool_s: int = HOUR
    # Usable history points before the seasonal baseline is trusted (half an hour of one-minute points).
    warmup_points: int = 30
    # Points so far needed for the warm-up bound (an SLO threshold needs none).
    warmup_min_points: int = 5
    # Spread floor of the warm-up bound: with the 3.5 cut, a step of about +69% over the median so far.
    warmup_spread_floor: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"`quantile` must be in (0, 1), got {self.quantile}")
        if not 1 <= self.fire_n <= self.fire_m:
            raise ValueError(f"`fire_n` must be in [1, fire_m={self.fire_m}], got {self.fire_n}")
        if self.recover_z >= self.z_threshold:
            raise ValueError(f"`recover_z` must be below `z_threshold` ({self.z_threshold}), got {self.recover_z}")
        if self.min_requests < 1:
            raise ValueError(f"`min_requests` must be >= 1, got {self.min_requests}")
        if self.max_pool_s < 1:
            raise ValueError(f"`max_pool_s` must be >= 1, got {self.max_pool_s}")
        if self.warmup_min_points < 1:
            raise ValueError(f"`warmup_min_points` must be >= 1, got {self.warmup_min_points}")


@dataclass(frozen=True)
class Baseline:
    """Center and spread of log-latency, and what they were computed from."""

    median_log: float
    spread_log: float
    points: int
    seasonality: str


@dataclass(frozen=True)
class Baselines:
    """What a walk compares against: the seasonal baselines, and the usable history for the warm-up bound."""

    seasonality: str
    by_slot: dict[int, Baseline]
    # Log-latency of the usable history points in time order (within ``history_s`` when not seasonal).
    history_logs: np.ndarray


@dataclass(frozen=True)
class LatencyVerdict:
    """The detector's state at one interval."""

    start_s: int
    requests: int
    value_ms: float
    expected_ms: float
    band_low_ms: float
    band_high_ms: float
    z: float
    cusum: float
    anomalous: bool
    firing: bool
    level_shift: bool
    since_s: int | None
    baseline: Baseline
    end_s: int | None = None
    # Judged during warm-up (the median so far, or the SLO threshold), not against a settled baseline.
    warming_up: bool = False
    # Above the model's latency SLO threshold (only judged during warm-up).
    over_slo_threshold: bool = False
    # Start of the last interval that was out of band, while firing.
    last_out_of_band_s: int | None = None

    @property
    def cooling_down(self) -> bool:
        """Still firing (hysteresis) although this interval is back in band."""
        return self.firing and not self.anomalous and not self.level_shift


def _seasonality(first_start_s: int | None, evaluated_start: int) -> str:
    if first_start_s is None:
        return "none"
    covered = evaluated_start - first_start_s
    if covered >= 3 * WEEK:
        return "hour_of_week"
    if covered >= 3 * DAY:
        return "hour_of_day"
    return "none"


def _slot(start_s: int, seasonality: str) -> int:
    if seasonality == "hour_of_week":
        return (start_s // HOUR) % (7 * 24)
    if seasonality == "hour_of_day":
        return (start_s // HOUR) % 24
    return 0


class LatencyAnomalyDetector:
    """Evaluates a latency series; stateless between calls, so any replica gets the same answer."""

    def __init__(self, options: LatencyOptions | None = None) -> None:
        self.options = options or LatencyOptions()

    def baselines(self, history: Sequence[LatencyPoint], evaluated_start: int) -> Baselines:
        """Per seasonal slot, the robust baseline from the history before ``evaluated_start``."""
        return self.baselines_of(
            np.fromiter((p.start_s for p in history), dtype=np.int64, count=len(history)),
            np.fromiter((p.requests for p in history), dtype=np.int64, count=len(history)),
            np.fromiter((p.value_ms for p in history), dtype=np.float64, count=len(history)),
            evaluated_start,
        )

    def baselines_of(
        self, start_s: np.ndarray, requests: np.ndarray, value_ms: np.ndarray, evaluated_start: int
    ) -> Baselines:
        """``baselines`` on columns in time order, without a Python object per point (a pass covers millions)."""
        options = self.options
        usable = (requests >= options.min_requests) & (value_ms > 0)
        starts, values = start_s[usable], value_ms[usable]
        seasonality = _seasonality(int(starts[0]) if starts.size else None, evaluated_start)
        if seasonality == "none":
            recent = starts >= evaluated_start - options.history_s
            starts, values = starts[recent], values[recent]
        if seasonality == "hour_of_week":
            slots = (starts // HOUR) % (7 * 24)
        elif seasonality == "hour_of_day":
            slots = (starts // HOUR) % 24
        else:
            slots = np.zeros(starts.size, dtype=np.int64)
        logs = np.log(values)
        baselines = {}
        for slot in np.unique(slots):
            in_slot = logs[slots == slot]
            median = float(np.median(in_slot))
            spread = MAD_TO_SIGMA * float(np.median(np.abs(in_slot - median)))
            baselines[int(slot)] = Baseline(median, max(spread, options.mad_floor), int(in_slot.size), seasonality)
        return Baselines(seasonality, baselines, logs)

    def evaluate(
        self,
        history: Sequence[LatencyPoint],
        evaluated: Sequence[LatencyPoint],
        *,
        slo_threshold_ms: float | None = None,
    ) -> list[LatencyVerdict]:
        """The verdict at each evaluated point, walking persistence, hysteresis and CUSUM in order."""
        if not evaluated:
            return []
        baselines = self.baselines(history, evaluated[0].start_s)
        return self.walk(baselines, evaluated, slo_threshold_ms=slo_threshold_ms)

    def _warmup_baseline(self, history_logs: np.ndarray, seen_logs: list[float]) -> Baseline | None:
        """The robust bound from every point so far, with the wider warm-up floor; None with too few points."""
        if history_logs.size + len(seen_logs) < self.options.warmup_min_points:
            return None
        values = np.concatenate((history_logs, np.asarray(seen_logs, dtype=np.float64)))
        median = float(np.median(values))
        spread = MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
        return Baseline(median, max(spread, self.options.warmup_spread_floor), int(values.size), "warm-up")

    def walk(
        self,
        baselines: Baselines,
        evaluated: Sequence[LatencyPoint],
        *,
        slo_threshold_ms: float | None = None,
    ) -> list[LatencyVerdict]:
        """The verdicts of ``evaluate``, given the baselines already computed.

        ``slo_threshold_ms``: the model's latency SLO threshold; during warm-up a point above it is anomalous.
        """
        options = self.options
        settled_history = baselines.history_logs.size >= options.warmup_points
        # Log-latency of the evaluated points so far; with the history, what a warm-up bound is made of.
        seen_logs: list[float] = []
        recent: list[tuple[int, bool]] = []
        calm = 0
        firing = False
        since: int | None = None
        last_out: int | None = None
        cusum = 0.0
        drifting: list[bool] = []
        verdicts = []
        for point in evaluated:
            if point.requests < options.min_requests or point.value_ms <= 0:
                continue  # too little traffic to say anything
            log_value = math.log(point.value_ms)
            baseline = baselines.by_slot.get(_slot(point.start_s, baselines.seasonality))
            warming_up = not settled_history or baseline is None or baseline.points < options.min_history_points
            if warming_up:
                baseline = self._warmup_baseline(baselines.history_logs, seen_logs)
            seen_logs.append(log_value)
            over_slo = warming_up and slo_threshold_ms is not None and point.value_ms > slo_threshold_ms
            if baseline is None and not over_slo:
                continue  # still learning, and no threshold to hold it to
            if baseline is None:
                assert slo_threshold_ms is not None
                # Nothing learned yet: the SLO threshold is the only expectation there is.
                baseline = Baseline(math.log(slo_threshold_ms), options.warmup_spread_floor, 0, "warm-up")
            z = (log_value - baseline.median_log) / baseline.spread_log
            anomalous = z > options.z_threshold or over_slo
            if warming_up:
                level_shift = False  # the sum needs a settled baseline
            else:
                # One outlier must not be a level shift: z is capped at the point cut before it accumulates,
                # the sum is capped just above h so that it falls back below h within two quiet intervals, and
                # a shift needs the last fire_n intervals all above the reference value k (a drift, not a jump).
                cusum = min(max(0.0, cusum + min(z, options.z_threshold) - options.cusum_k), options.cusum_h + 1.0)
                drifting = [*drifting, z > options.cusum_k][-options.fire_n :]
                level_shift = cusum > options.cusum_h and len(drifting) == options.fire_n and all(drifting)
            recent = [*recent, (point.start_s, anomalous)][-options.fire_m :]
            calm = calm + 1 if z < options.recover_z and not over_slo else 0
            if not firing and (sum(flag for _, flag in recent) >= options.fire_n or level_shift):
                firing = True
                since = next((start for start, flag in recent if flag), point.start_s)
            elif firing and calm >= options.recover_n and not level_shift:
                firing = False
                since = None
            if anomalous or level_shift:
                last_out = point.start_s
            elif not firing:
                last_out = None
            half_band = options.z_threshold * baseline.spread_log
            verdicts.append(
                LatencyVerdict(
                    start_s=point.start_s,
                    requests=point.requests,
                    value_ms=point.value_ms,
                    expected_ms=math.exp(baseline.median_log),
                    band_low_ms=math.exp(baseline.median_log - half_band),
                    band_high_ms=math.exp(baseline.median_log + half_band),
                    z=z,
                    cusum=cusum,
                    anomalous=anomalous,
                    firing=firing,
                    level_shift=level_shift,
                    since_s=since,
                    baseline=baseline,
                    end_s=point.end_s,
                    warming_up=warming_up,
                    over_slo_threshold=over_slo,
                    last_out_of_band_s=last_out if firing else None,
                )
            )
        return verdicts
