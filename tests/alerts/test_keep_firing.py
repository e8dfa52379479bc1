"""``keep_firing_for`` counts quiet time from when the next verdict was due, so a short one does not flap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from alerts.model import FIRING, RESOLVED
from alerts.store import AlertFilter, list_alerts
from tests.alerts.conftest import T0, Clock, Store
from tests.alerts.helpers import dispatcher

# The service's timing: the detectors judge each one-minute interval 30 s after it ends, on a pass every
# minute (here 40 s into the minute), and the dispatcher looks every 10 s.
DETECTOR_PHASE_S = 40
DISPATCHER_EVERY_S = 10


def _run(
    engine: Engine, clock: Clock, store: Store, hold: str, *, firing_minutes: int, total_minutes: int
) -> list[str]:
    """A condition that fires for ``firing_minutes`` one-minute windows, then is quiet; the notices, in order."""
    runner, sink = dispatcher(
        engine, clock, for_=hold, keep_firing_for="1m", group_wait="0s", group_interval="10s", group_by=["..."]
    )
    for second in range(0, total_minutes * 60, DISPATCHER_EVERY_S):
        minute, into = divmod(second, 60)
        if into == DETECTOR_PHASE_S and minute <= firing_minutes:
            store(T0 + timedelta(minutes=minute), firing=minute < firing_minutes)
        runner.run_once(clock.advance(DISPATCHER_EVERY_S) if second else clock.now)
    return [alert.status for alert in sink.alerts]


@pytest.mark.parametrize("hold", ["0s", "1m"])
def test_one_incident_at_a_keep_firing_for_of_one_minute(engine: Engine, clock: Clock, store: Store, hold: str) -> None:
    """Eight minutes of firing one-minute verdicts are one firing notice and, once quiet, one resolved notice.

    Counting quiet time from the finding's window end, ``for = 0s`` fired and resolved every minute (8 firing and
    8 resolved notices), and ``for = 1m`` never fired: the pending alert expired before the second verdict came.
    """
    notices = _run(engine, clock, store, hold, firing_minutes=8, total_minutes=14)
    assert notices == ["firing", "resolved"]


def test_a_condition_that_stops_still_resolves_within_a_verdict_and_keep_firing_for(
    engine: Engine, clock: Clock, store: Store
) -> None:
    """Counting from when the next verdict was due delays resolution by one detector and one dispatcher interval."""
    runner, _ = dispatcher(engine, clock, for_="0s", keep_firing_for="1m", group_wait="0s")
    store(clock.now)
    runner.run_once()

    def state() -> str:
        return list_alerts(engine, AlertFilter(), clock.now)[0].state

    assert state() == FIRING
    runner.run_once(clock.advance(60 + DISPATCHER_EVERY_S + 60 - 1))
    assert state() == FIRING
    runner.run_once(clock.advance(1))
    assert state() == RESOLVED


def test_an_older_window_read_late_does_not_replace_the_alerts_text(engine: Engine, clock: Clock, store: Store) -> None:
    """Quiet time counts from when a finding was read, but the alert's text follows the newest window judged."""
    runner, _ = dispatcher(engine, clock, for_="0s", keep_firing_for="5m", group_wait="0s")
    store(clock.now + timedelta(minutes=1), value=900.0)
    runner.run_once(clock.advance(90))
    store(clock.now - timedelta(minutes=30), value=700.0)  # an old window, first stored (and read) now
    runner.run_once(clock.advance(10))
    [alert] = list_alerts(engine, AlertFilter(), clock.now)
    assert "900 ms" in alert.annotations["summary"]
