"""Cost anomalies: expected against actual spend, both thresholds, contributors, seasonality, by hand."""

from __future__ import annotations

import pytest

from collector.core.errors import ConfigError
from collector.core.pricing import Pricing, TokenPrice
from detectors.cost_anomaly import (
    CostAnomalyDetector,
    CostAnomalyOptions,
    cost_finding,
    parse_cost_anomaly_section,
    usd,
)
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey

T0 = 1_700_000_000 // 86400 * 86400  # midnight UTC
PRICING = Pricing(hardware={"cpu": 3.6}, tokens={"chat": TokenPrice(2.5, 10.0)})
TEN_MINUTES = CostAnomalyOptions(window_s=600, min_impact_usd=0.1, min_impact_percent=20)


def chat(minute: int, version: str, tokens: tuple[int, int], requests: int = 5, operation: str = "chat") -> Rollup:
    """One minute of the token-priced model: ``requests`` requests of ``tokens`` (input, output) each."""
    key = RollupKey("chat", version, operation, "")
    inputs, outputs = tokens[0] * requests, tokens[1] * requests
    return Rollup(key, 60, T0 + minute * 60, requests, 0, 0, inputs, outputs, LatencySketch())


def test_a_version_with_twice_the_tokens_fires_with_the_right_impact() -> None:
    """Three windows of v1 at $0.225, then v2 at twice the tokens: +$0.225, +100%, v2 and both token kinds named."""
    rollups = [chat(minute, "1", (1000, 200)) for minute in range(30)]
    rollups += [chat(minute, "2", (2000, 400)) for minute in range(30, 40)]
    (verdict,) = CostAnomalyDetector(PRICING, TEN_MINUTES).evaluate(rollups, T0 + 40 * 60)
    # Per request 1000 x $2.5/M + 200 x $10/M = $0.0045; 50 requests a window = $0.225 expected, $0.45 actual.
    assert (verdict.expected_usd, verdict.actual_usd) == pytest.approx((0.225, 0.45))
    assert verdict.impact_usd == pytest.approx(0.225)
    assert verdict.impact_percent == pytest.approx(100.0)
    assert verdict.firing
    by_key = {(c.dimension, c.value): c.impact_usd for c in verdict.contributors}
    assert by_key == pytest.approx(
        {
            ("version", "2"): 0.45,
            ("version", "1"): -0.225,
            ("operation", "chat"): 0.225,
            ("usage", "input_tokens"): 0.125,
            ("usage", "output_tokens"): 0.1,
        }
    )
    finding = cost_finding(verdict, TEN_MINUTES)
    assert finding.firing
    assert finding.detector == "cost"
    assert finding.details["impact_usd"] == pytest.approx(0.225)
    assert "expected $0.225 (impact +$0.225, +100%)" in finding.summary
    assert "from version 2 +$0.450, operation chat +$0.225, input tokens +$0.125" in finding.summary


@pytest.mark.parametrize(
    ("options", "fires"),
    [
        (CostAnomalyOptions(window_s=600, min_impact_usd=0.5, min_impact_percent=20), False),  # $0.225 < $0.5
        (CostAnomalyOptions(window_s=600, min_impact_usd=0.1, min_impact_percent=150), False),  # 100% < 150%
        (CostAnomalyOptions(window_s=600, min_impact_usd=0.22, min_impact_percent=99), True),  # both just met
    ],
)
def test_both_thresholds_must_hold(options: CostAnomalyOptions, fires: bool) -> None:
    """Dollars without percent, or percent without dollars, is not an anomaly."""
    rollups = [chat(minute, "1", (1000, 200)) for minute in range(30)]
    rollups += [chat(minute, "1", (2000, 400)) for minute in range(30, 40)]
    (verdict,) = CostAnomalyDetector(PRICING, options).evaluate(rollups, T0 + 40 * 60)
    assert verdict.firing is fires


def test_less_spend_and_steady_spend_do_not_fire() -> None:
    """Only increases are anomalies, and a steady model's impact is zero."""
    steady = [chat(minute, "1", (1000, 200)) for minute in range(40)]
    (verdict,) = CostAnomalyDetector(PRICING, TEN_MINUTES).evaluate(steady, T0 + 40 * 60)
    assert verdict.impact_usd == pytest.approx(0.0)
    assert not verdict.firing
    cheaper = steady[:30] + [chat(minute, "1", (100, 20)) for minute in range(30, 40)]
    (verdict,) = CostAnomalyDetector(PRICING, TEN_MINUTES).evaluate(cheaper, T0 + 40 * 60)
    assert verdict.impact_usd < 0
    assert not verdict.firing
    assert not cost_finding(verdict, TEN_MINUTES).firing


def test_a_model_with_too_little_history_is_not_judged() -> None:
    """Two comparable windows are not enough to know what a model costs."""
    rollups = [chat(minute, "1", (1000, 200)) for minute in range(20)]
    rollups += [chat(minute, "2", (9000, 900)) for minute in range(20, 30)]
    assert CostAnomalyDetector(PRICING, TEN_MINUTES).evaluate(rollups, T0 + 30 * 60) == []


def test_a_learned_daily_pattern_does_not_fire() -> None:
    """Noon costs five times the night; with three days of it, noon on day four is expected."""
    options = CostAnomalyOptions(window_s=3600, min_impact_usd=0.01, min_impact_percent=20)
    key = RollupKey("fraud", "1", "predict", "cpu")
    rollups = [
        # 10 busy seconds at $3.6/h is $0.01 an hour at night, 50 s ($0.05) from noon to one.
        Rollup(key, 60, T0 + hour * 3600, 100, 0, (50 if hour % 24 == 12 else 10) * 10**9, 0, 0, LatencySketch())
        for hour in range(3 * 24 + 13)
    ]
    (verdict,) = CostAnomalyDetector(PRICING, options).evaluate(rollups, T0 + (3 * 24 + 13) * 3600)
    assert verdict.seasonality == "time_of_day"
    assert (verdict.actual_usd, verdict.expected_usd) == pytest.approx((0.05, 0.05))
    assert not verdict.firing
    # Without the same hour on previous days, the trailing day says noon is anomalous.
    (naive,) = CostAnomalyDetector(PRICING, options).evaluate(rollups[-24:], T0 + (3 * 24 + 13) * 3600)
    assert naive.seasonality == "none"
    assert naive.firing
    assert ("usage", "compute") in {(c.dimension, c.value) for c in naive.contributors if c.impact_usd > 0}


def test_parse_cost_anomaly_section() -> None:
    """[pricing.anomaly] sets the window and thresholds; mistakes name the key and the value."""
    options = parse_cost_anomaly_section(
        {"anomaly": {"window_minutes": 30, "min_impact_usd": 5, "min_impact_percent": 10}}
    )
    assert options == CostAnomalyOptions(window_s=1800, min_impact_usd=5.0, min_impact_percent=10.0)
    assert parse_cost_anomaly_section({}) == CostAnomalyOptions()
    with pytest.raises(ConfigError, match=r"\[pricing.anomaly\] min_impact_usd must be a finite number >= 0, got -1"):
        parse_cost_anomaly_section({"anomaly": {"min_impact_usd": -1}})
    with pytest.raises(ConfigError, match=r"window_minutes must be a whole number >= 1, got 0.5"):
        parse_cost_anomaly_section({"anomaly": {"window_minutes": 0.5}})
    with pytest.raises(ConfigError, match=r"\[pricing.anomaly\] has unknown key\(s\): min_impact"):
        parse_cost_anomaly_section({"anomaly": {"min_impact": 1}})
    with pytest.raises(ValueError, match="`min_history_windows` must be in"):
        CostAnomalyOptions(min_history_windows=0)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0.0000246, "$0.0000246"),
        (0.00002, "$0.0000200"),
        (0.0046, "$0.00460"),
        (0.225, "$0.225"),
        (1.874, "$1.87"),
        (12345.678, "$12,345.68"),
        (0.0, "$0.00"),
        (-0.0000046, "-$0.00000460"),
    ],
)
def test_money_keeps_its_significant_digits(amount: float, shown: str) -> None:
    """Sub-dollar amounts keep three significant digits, so a cheap model's spend is never "$0.0000"."""
    assert usd(amount) == shown
