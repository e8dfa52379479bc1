"""Burn-rate math against hand-computed cases, and SLO configuration."""

from __future__ import annotations

import numpy as np
import pytest

from collector.core.errors import ConfigError
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey
from detectors.scheduler import slo_finding
from detectors.slo import BURN_WINDOWS, SLO, burn_rate, evaluate_slo, parse_slo_section

NOW = 1_700_000_000 // 60 * 60
KEY = RollupKey("fraud", "1", "predict", "cpu")


def minutes(n: int, requests: int, errors: int, *, slow: int = 0, end: int = NOW) -> list[Rollup]:
    """``n`` one-minute rollups ending at ``end``, each with ``slow`` requests at 900 ms and the rest at 100 ms."""
    sketch = LatencySketch.from_durations_ms(np.array([900.0] * slow + [100.0] * (requests - slow)))
    return [Rollup(KEY, 60, end - (i + 1) * 60, requests, errors, 0, 0, 0, sketch) for i in range(n)]


def test_burn_rate_hand_computed() -> None:
    """1% errors against a 99.9% target burns 10x; no traffic burns nothing."""
    assert burn_rate(10, 1000, 0.999) == pytest.approx(10.0)
    assert burn_rate(144, 10_000, 0.999) == pytest.approx(14.4)
    assert burn_rate(0, 0, 0.999) == 0.0


def test_workbook_windows_and_factors() -> None:
    """The three pairs are the SRE Workbook's 30-day numbers."""
    assert [(w.name, w.factor, w.severity) for w in BURN_WINDOWS] == [
        ("1h/5m", 14.4, "critical"),
        ("6h/30m", 6.0, "critical"),
        ("3d/6h", 1.0, "warning"),
    ]


def test_fast_burn_fires_the_page_pair_and_names_it() -> None:
    """2% errors for an hour against 99.9% is 20x: both page pairs fire, the ticket pair too."""
    status = evaluate_slo(SLO("fraud", "availability", 0.999), minutes(60, 1000, 20), NOW)
    assert [v.window.name for v in status.firing] == ["1h/5m", "6h/30m", "3d/6h"]
    assert status.verdicts[0].long_burn == pytest.approx(20.0)
    assert status.verdicts[0].short_burn == pytest.approx(20.0)


def test_slow_burn_fires_only_the_six_hour_page_and_the_ticket() -> None:
    """0.8% errors for 6 h against 99.9% is 8x: under 14.4 (no 1h/5m page), over 6 (6h/30m page) and 1 (ticket)."""
    status = evaluate_slo(SLO("fraud", "availability", 0.999), minutes(360, 1000, 8), NOW)
    assert [v.window.name for v in status.firing] == ["6h/30m", "3d/6h"]
    assert [burn for v in status.verdicts for burn in (v.long_burn, v.short_burn)] == pytest.approx([8.0] * 6)
    # 2,880 bad of 360,000 is 0.8%, 8 times the 0.1% allowed: the budget is overspent seven times over.
    assert (status.period_bad, status.period_total) == (2880, 360_000)
    assert status.budget_remaining == pytest.approx(-7.0)


def test_burn_that_stopped_does_not_page() -> None:
    """An hour of 2% errors that ended 10 minutes ago: the 5-minute window is clean, so 1h/5m is quiet."""
    rollups = minutes(50, 1000, 20, end=NOW - 600) + minutes(10, 1000, 0)
    status = evaluate_slo(SLO("fraud", "availability", 0.999), rollups, NOW)
    assert not status.verdicts[0].firing
    assert status.verdicts[0].long_burn == pytest.approx(50 * 20 / 60_000 / 0.001)


def test_latency_slo_counts_slow_requests_and_budget_left() -> None:
    """5 of 1000 requests over 300 ms against 99%: burn 0.5, half the budget left over the data so far."""
    status = evaluate_slo(SLO("fraud", "latency", 0.99, 300.0), minutes(120, 1000, 0, slow=5), NOW)
    assert not status.firing
    assert status.verdicts[0].long_burn == pytest.approx(0.5)
    assert status.budget_remaining == pytest.approx(0.5)
    assert (status.period_bad, status.period_total) == (600, 120_000)


def test_other_models_are_ignored() -> None:
    """Only the SLO's own model counts."""
    other = [Rollup(RollupKey("other", "1", "x", "cpu"), 60, NOW - 60, 100, 100, 0, 0, 0, LatencySketch())]
    status = evaluate_slo(SLO("fraud", "availability", 0.999), other, NOW)
    assert status.period_total == 0
    assert status.budget_remaining == 1.0


def test_parse_slo_section() -> None:
    """Each model may have a latency and an availability objective; mistakes name the model."""
    slos = parse_slo_section(
        {"fraud": {"latency_threshold_ms": 300, "latency_target": 0.99, "availability_target": 0.999}}
    )
    assert [slo.name for slo in slos] == ["latency<300ms@99%", "availability@99.9%"]
    with pytest.raises(ConfigError, match=r"\[slo\.fraud\] has unknown key"):
        parse_slo_section({"fraud": {"target": 0.9}})
    with pytest.raises(ConfigError, match=r"\[slo\.fraud\]: `target` must be in \(0, 1\), got 99.0"):
        parse_slo_section({"fraud": {"availability_target": 99}})


def test_a_young_service_gets_its_burn_over_the_history_it_has_not_a_budget_percentage() -> None:
    """3 hours at 0.8% errors against 99.9% is an 8x burn: the summary says so, over 3.0 h, and states no budget
    percentage (the old text read "-700.0% of the 30-day error budget left")."""
    status = evaluate_slo(SLO("fraud", "availability", 0.999), minutes(180, 1000, 8), NOW)
    assert status.history_s == 3 * 3600
    assert not status.covers_period
    text = slo_finding(status, NOW - 60, NOW).summary
    assert "burn 8.00x over the 3.0 h of data so far" in text
    assert "spent in 3.8 d" in text
    assert "%" not in text.split(";", 1)[1]
    assert slo_finding(status, NOW - 60, NOW).details["budget_remaining"] is None


def test_thirty_days_of_history_state_the_budget_left() -> None:
    """With the whole period covered, the budget left is a percentage of it: burn 0.5 leaves half."""
    status = evaluate_slo(SLO("fraud", "availability", 0.999), minutes(30 * 1440, 2000, 1), NOW)
    assert status.covers_period
    assert status.budget_summary() == "50.0% of the 30-day error budget left (burn 0.50x over 30 d)"


def test_an_slo_without_traffic_says_its_budget_is_untouched() -> None:
    """No requests in the period: nothing burned, and the text says why."""
    status = evaluate_slo(SLO("fraud", "availability", 0.999), [], NOW)
    assert status.budget_summary() == "no traffic in the last 30 days: the error budget is untouched"
