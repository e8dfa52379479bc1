"""Cost from rollups: per rollup, per model version, per 1,000 predictions and per hour, by hand."""

from __future__ import annotations

import pytest

from collector.core.pricing import Pricing, TokenPrice
from detectors.cost import cost_line_to_json, cost_report, format_cost_report, rollup_cost
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey

T0 = 1_700_000_000 // 3600 * 3600
PRICING = Pricing(hardware={"cpu": 0.36, "nvidia-l4": 0.8}, tokens={"gpt-4o": TokenPrice(2.5, 10.0)})


def rollup(model: str, version: str, minute: int, requests: int, *, hardware: str = "cpu", busy_s: float = 0.0,
           tokens: tuple[int, int] = (0, 0), operation: str = "predict") -> Rollup:  # fmt: skip
    """One one-minute rollup of a model version."""
    key = RollupKey(model, version, operation, hardware)
    busy_ns = int(busy_s * 1e9)
    return Rollup(key, 60, T0 + minute * 60, requests, 0, busy_ns, tokens[0], tokens[1], LatencySketch())


def test_rollup_cost_follows_the_attribution_rule() -> None:
    """10 s busy on cpu at $0.36/h is $0.001; 1,000 in and 100 out tokens of gpt-4o is $0.0035."""
    assert rollup_cost(rollup("fraud", "1", 0, 100, busy_s=10), PRICING).compute_usd == pytest.approx(0.001)
    cost = rollup_cost(rollup("gpt-4o", "", 0, 1, tokens=(1000, 100), hardware=""), PRICING)
    assert (cost.input_usd, cost.output_usd) == pytest.approx((0.0025, 0.001))


def test_report_per_version_per_1k_and_per_hour() -> None:
    """Two hours of a cpu model and ten minutes of a token model, summed over operations and hardware."""
    rollups = [rollup("fraud", "1", minute, 60, busy_s=30) for minute in range(120)]
    rollups += [rollup("fraud", "1", minute, 60, busy_s=30, operation="explain") for minute in range(60)]
    rollups += [rollup("gpt-4o", "2024-08-06", minute, 10, tokens=(10_000, 2_000)) for minute in range(10)]
    fraud, llm = sorted(cost_report(rollups, PRICING), key=lambda line: line.model_name)
    # 180 rollups x 30 s = 1.5 busy hours at $0.36/h = $0.54 for 10,800 requests, over 2 active hours.
    assert (fraud.basis, fraud.requests) == ("busy_time", 10_800)
    assert fraud.busy_s == pytest.approx(5400.0)
    assert fraud.total_usd == pytest.approx(0.54)
    assert fraud.usd_per_1k_predictions == pytest.approx(0.05)
    assert fraud.usd_per_hour == pytest.approx(0.27)
    # 100k input ($0.25) and 20k output ($0.20) tokens over 100 requests in 10 minutes.
    assert (llm.basis, llm.model_version, llm.requests) == ("tokens", "2024-08-06", 100)
    assert (llm.input_usd, llm.output_usd, llm.compute_usd) == pytest.approx((0.25, 0.2, 0.0))
    assert llm.usd_per_1k_predictions == pytest.approx(4.5)
    assert llm.usd_per_hour == pytest.approx(2.7)
    assert cost_line_to_json(llm)["usd_per_hour"] == pytest.approx(2.7)
    assert [line.model_name for line in cost_report(rollups, PRICING)] == ["fraud", "gpt-4o"]  # dearest first


def test_unpriced_hardware_is_counted_not_priced() -> None:
    """Traffic on a class without a price costs nothing, is counted, and the table says so."""
    rollups = [rollup("fraud", "1", 0, 50, busy_s=10), rollup("fraud", "1", 1, 30, busy_s=10, hardware="tpu")]
    (line,) = cost_report(rollups, PRICING)
    assert (line.requests, line.unpriced_requests, line.basis) == (80, 30, "busy_time")
    assert line.usd_per_1k_predictions == pytest.approx(0.001 / 50 * 1000)
    (only_tpu,) = cost_report(rollups[1:], PRICING)
    assert only_tpu.basis == "unpriced"
    assert only_tpu.usd_per_1k_predictions is None
    assert "30 requests had no price" in format_cost_report([line])
    assert format_cost_report([]) == "no traffic in range"


def test_the_cost_table_shows_model_and_version_in_full() -> None:
    """Long names are not cut to the column: versions that share a 12-character prefix stay apart."""
    versions = ["2026-11-30-canary-a", "2026-11-30-canary-b"]
    rollups = [rollup("fraud-detector-europe-west-primary", version, 0, 50, busy_s=10) for version in versions]
    table = format_cost_report(cost_report(rollups, PRICING)).splitlines()
    assert sorted(row.split()[1] for row in table[1:]) == versions
    assert all(row.split()[0] == "fraud-detector-europe-west-primary" for row in table[1:])
