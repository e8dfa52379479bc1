"""The background pass loop: a failing pass is retried, and every pass is reported to the service's metrics."""

from __future__ import annotations

import asyncio
import threading

from prometheus_client.parser import text_string_to_metric_families

from collector.core.metrics import ServiceMetrics
from collector.core.periodic import PeriodicPass


def test_failures_and_successes_reach_the_metrics() -> None:
    """A pass that raises counts as a failure and is retried; the next success sets the last-success time."""
    metrics = ServiceMetrics()
    calls: list[int] = []
    reported: list[tuple[str, bool]] = []
    two_passes = threading.Event()

    def run() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("database went away")

    def observe(name: str, seconds: float, ok: bool) -> None:
        assert seconds >= 0
        reported.append((name, ok))
        metrics.observe_pass(name, seconds, ok)
        if len(reported) == 2:
            two_passes.set()

    async def main() -> None:
        async with PeriodicPass("inferwatch-test", run, 0.01, observe):
            await asyncio.to_thread(two_passes.wait, 10)

    asyncio.run(main())
    assert reported[:2] == [("inferwatch-test", False), ("inferwatch-test", True)]
    values = {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }
    assert values[("inferwatch_background_pass_failures_total", ("inferwatch-test",))] == 1
    assert values[("inferwatch_background_pass_last_success_timestamp_seconds", ("inferwatch-test",))] > 1.7e9
    assert values[("inferwatch_background_pass_seconds_count", ("inferwatch-test",))] >= 2
