"""What notifications say, end to end from the real drift monitor through the real dispatcher: the window
judged, a baseline, and a resolution that says traffic stopped when it did."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from collector.cli.commands import main
from collector.core.findings import store_findings
from detectors.drift.monitor import DATA, DriftMonitor, DriftOptions
from tests.alerts.conftest import Clock, Store, finding
from tests.alerts.helpers import dispatcher
from tests.detectors.drift import test_monitor as drift_data

HOUR = 3600


def test_a_drift_alert_that_resolves_because_traffic_stopped_says_so(engine: Engine) -> None:
    """A drifted hour fires with its window and its reference as baseline; an hour without predictions resolves it,
    and the resolved notice says traffic stopped instead of repeating which features drifted."""
    t0 = drift_data.T0
    drift_data.store(engine, "fraud", t0, drift_data.rows(2000, seed=1), prefix="ref")
    drift_data.set_reference(engine, "fraud")
    drift_data.store(engine, "fraud", t0 + 2 * HOUR, drift_data.rows(1000, seed=5, shift=1.0), prefix="cur")
    monitor = DriftMonitor(engine, DriftOptions(min_count=100))
    settle = monitor.options.settle_s
    clock = Clock(datetime.fromtimestamp(t0 + 3 * HOUR + settle, UTC))
    runner, sink = dispatcher(engine, clock, for_="0s", keep_firing_for="5m", group_wait="0s", group_interval="1m")

    store_findings(engine, monitor.evaluate(clock.now.timestamp()))
    runner.run_once()
    fired = next(a for a in sink.alerts if a.labels["detector"] == DATA)
    assert fired.status == "firing"
    start, end = datetime.fromtimestamp(t0 + 2 * HOUR, UTC), datetime.fromtimestamp(t0 + 3 * HOUR, UTC)
    assert fired.annotations["window"] == f"{start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC"
    assert fired.annotations["baseline"] == "reference 'default' (2,000 rows)"
    assert "drifted" in fired.annotations["summary"]

    # The next hour has no predictions: the monitor says "not enough data", and the alert resolves once the
    # drifted hour's verdict no longer stands and keep_firing_for has passed.
    for _ in range(12):
        moment = clock.advance(600)
        store_findings(engine, monitor.evaluate(moment.timestamp()))
        runner.run_once()
    resolved = [a for a in sink.alerts if a.labels["detector"] == DATA and a.status == "resolved"]
    assert len(resolved) == 1
    summary = resolved[0].annotations["summary"]
    assert summary.startswith("resolved, traffic stopped: not enough data: 0 predictions in the window, 100 needed")
    assert resolved[0].annotations["resolution"].startswith("traffic stopped")


def test_a_latency_alert_without_any_further_verdict_says_nothing_was_judged(
    engine: Engine, clock: Clock, store: Store
) -> None:
    """No verdict at all after the firing one (the latency detector has no traffic to judge) is said as such."""
    runner, sink = dispatcher(engine, clock, for_="0s", keep_firing_for="1m", group_wait="0s", group_interval="1m")
    store(clock.now)
    runner.run_once()
    for _ in range(4):
        runner.run_once(clock.advance(60))
    [firing, resolved] = sink.alerts
    assert resolved.status == "resolved"
    assert "no firing verdict since the window ending 2026-11-30 12:00 UTC" in resolved.annotations["summary"]
    assert "did traffic stop?" in resolved.annotations["resolution"]
    assert resolved.annotations["summary"].endswith(f"while firing: {firing.annotations['summary']}")


def test_a_condition_judged_normal_again_says_it_is_back_to_normal(engine: Engine, clock: Clock, store: Store) -> None:
    """A quiet verdict after the firing ones is quoted in the resolution."""
    runner, sink = dispatcher(engine, clock, for_="0s", keep_firing_for="1m", group_wait="0s", group_interval="1m")
    store(clock.now)
    runner.run_once()
    store(clock.advance(60), firing=False, value=190.0)
    for _ in range(4):
        runner.run_once(clock.advance(60))
    resolved = [a for a in sink.alerts if a.status == "resolved"]
    assert resolved[0].annotations["resolution"].startswith("back to normal: p99 latency of predict is 190 ms")


def test_alerts_list_shows_versions_in_full(
    engine: Engine, clock: Clock, migrated_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two versions that share a long prefix stay apart in the table: the version column is as wide as needed."""
    runner, _ = dispatcher(engine, clock, for_="0s", group_wait="0s")
    versions = ["2026-11-30-canary-eu-west-1-a", "2026-11-30-canary-eu-west-1-b"]
    store_findings(engine, [replace(finding(clock.now), model_version=version) for version in versions])
    runner.run_once()
    assert main(["alerts", "list", "--db-url", migrated_db_url]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(row[5] for row in rows) == versions
