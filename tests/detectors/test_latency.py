"""The latency anomaly detector: steps fire within two intervals, spikes and seasonality do not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.latency import LatencyAnomalyDetector, LatencyOptions, LatencyPoint

MINUTE = 60
HOUR = 3600


def series(values: list[float], *, start: int = 1_700_000_000 // HOUR * HOUR, step: int = MINUTE) -> list[LatencyPoint]:
    """Points one interval apart with plenty of traffic."""
    return [LatencyPoint(start + i * step, 100, value) for i, value in enumerate(values)]


def noisy(n: int, level: float, seed: int) -> list[float]:
    """Latency around ``level`` ms with 5% lognormal noise."""
    return list(level * np.random.default_rng(seed).lognormal(0.0, 0.05, size=n))


def run(values: list[float], history_n: int, *, step: int = MINUTE) -> list[bool]:
    """Firing state at each evaluated point after ``history_n`` points of history."""
    points = series(values, step=step)
    verdicts = LatencyAnomalyDetector().evaluate(points[:history_n], points[history_n:])
    return [verdict.firing for verdict in verdicts]


def test_a_step_fires_on_its_second_interval() -> None:
    """A sustained tripling is flagged within two intervals of the step."""
    values = noisy(180, 100.0, 1) + noisy(5, 300.0, 2)
    assert run(values, 120) == [False] * 60 + [False, True, True, True, True]


def test_a_single_spike_does_not_fire() -> None:
    """One interval at triple latency, then normal again: never firing."""
    values = [*noisy(180, 100.0, 3), 300.0, *noisy(10, 100.0, 4)]
    assert not any(run(values, 120))


def test_hysteresis_keeps_a_flapping_signal_firing() -> None:
    """Alternating bad and good intervals after a step stay firing instead of flapping."""
    values = [*noisy(180, 100.0, 5), 300.0, 300.0, 100.0, 300.0, 100.0, 300.0, 100.0, 300.0]
    states = run(values, 120)[60:]
    assert states == [False, True, True, True, True, True, True, True]


def test_recovery_resolves_after_quiet_intervals() -> None:
    """After the step ends, the detector resolves once recover_n quiet intervals have passed."""
    values = noisy(180, 100.0, 6) + [300.0] * 4 + noisy(5, 100.0, 7)
    states = run(values, 120)[60:]
    assert states == [False, True, True, True, True, True, False, False, False]


def test_a_small_sustained_shift_is_caught_by_cusum() -> None:
    """A 1.7-spread shift never crosses the z cut but fires as a level shift within a few intervals."""
    base = noisy(240, 100.0, 8)
    spread = 1.4826 * float(np.median(np.abs(np.log(base) - np.median(np.log(base)))))
    shifted = list(np.exp(np.log(noisy(20, 100.0, 9)) + 1.7 * spread))
    points = series(base + shifted)
    verdicts = LatencyAnomalyDetector().evaluate(points[:180], points[180:])
    after = verdicts[60:]
    assert not any(verdict.anomalous and verdict.z > 3.5 for verdict in after[:3])
    assert any(verdict.level_shift and verdict.firing for verdict in after)


def test_a_learned_daily_pattern_does_not_fire() -> None:
    """With three days of hourly history, a daily cycle (100 ms at night, 300 ms at noon) is normal."""
    hours = 24 * 8
    rng = np.random.default_rng(10)
    values = [200.0 - 100.0 * math.cos(2 * math.pi * (h % 24) / 24) * rng.lognormal(0, 0.02) for h in range(hours)]
    points = series(values, step=HOUR)
    verdicts = LatencyAnomalyDetector().evaluate(points[: 24 * 7], points[24 * 7 :])
    assert len(verdicts) == 24
    assert {verdict.baseline.seasonality for verdict in verdicts} == {"hour_of_day"}
    assert not any(verdict.firing for verdict in verdicts)


def test_low_traffic_intervals_are_skipped() -> None:
    """An interval under min_requests says nothing, however slow."""
    points = series(noisy(130, 100.0, 11))
    points.append(LatencyPoint(points[-1].start_s + MINUTE, 3, 900.0))
    verdicts = LatencyAnomalyDetector().evaluate(points[:120], points[120:])
    assert len(verdicts) == 10


def test_verdict_states_value_expected_band_and_since() -> None:
    """A firing verdict carries the value, the expected value and band, the z, and when it started."""
    values = [*noisy(180, 100.0, 12), 300.0, 310.0]
    points = series(values)
    last = LatencyAnomalyDetector().evaluate(points[:120], points[120:])[-1]
    assert last.firing
    assert last.value_ms == 310.0
    assert 95 < last.expected_ms < 105
    assert last.band_low_ms < last.expected_ms < last.band_high_ms < 300
    assert last.z > 3.5
    assert last.since_s == points[-2].start_s


def test_options_are_validated() -> None:
    """Impossible settings are refused with the argument named."""
    with pytest.raises(ValueError, match="`fire_n` must be in"):
        LatencyOptions(fire_n=4, fire_m=3)
    with pytest.raises(ValueError, match="`recover_z` must be below"):
        LatencyOptions(recover_z=4.0)


def test_warm_up_judges_a_large_step_against_the_median_so_far() -> None:
    """With no history, 20 points are enough to fire on a 16x step at its second point, marked warming up."""
    points = series([*noisy(20, 50.0, 13), 800.0, 810.0])
    verdicts = LatencyAnomalyDetector().evaluate([], points)
    assert [verdict.firing for verdict in verdicts[-3:]] == [False, False, True]
    assert all(verdict.warming_up for verdict in verdicts)
    assert verdicts[-1].baseline.points == 21
    assert len(verdicts) == 20 - 5 + 2  # the first five points only build the bound


def test_warm_up_does_not_fire_on_a_modest_step() -> None:
    """The warm-up floor is wide: +50% on a young series is not enough; with a settled baseline it is."""
    young = series([*noisy(20, 50.0, 14), 75.0, 76.0, 77.0])
    assert not any(verdict.firing for verdict in LatencyAnomalyDetector().evaluate([], young))
    settled = series([*noisy(150, 50.0, 14), 75.0, 76.0, 77.0])
    assert LatencyAnomalyDetector().evaluate(settled[:120], settled[120:])[-1].firing


def test_warm_up_fires_over_the_slo_threshold_with_nothing_learned() -> None:
    """Two points are no baseline, but two p95s over the SLO threshold fire."""
    verdicts = LatencyAnomalyDetector().evaluate([], series([100.0, 110.0, 200.0, 210.0]), slo_threshold_ms=150.0)
    assert [verdict.firing for verdict in verdicts] == [False, True]
    assert verdicts[-1].over_slo_threshold
    assert verdicts[-1].baseline.points == 0


def test_a_firing_verdict_back_in_band_is_cooling_down() -> None:
    """After a step ends, hysteresis keeps firing; the verdict says cooling down and the last bad interval."""
    values = [*noisy(180, 100.0, 15), 300.0, 300.0, 300.0, 100.0, 100.0]
    points = series(values)
    verdicts = LatencyAnomalyDetector().evaluate(points[:120], points[120:])
    last = verdicts[-1]
    assert last.firing
    assert last.cooling_down
    assert last.since_s == points[180].start_s
    assert last.last_out_of_band_s == points[182].start_s
    assert not verdicts[-3].cooling_down
