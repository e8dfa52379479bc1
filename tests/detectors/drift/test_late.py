"""Predictions that arrive after their interval was summarised are counted in the next window that covers it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import DriftSummaryRow
from detectors.drift.late import forget_stale_summaries
from detectors.drift.monitor import DriftMonitor, DriftOptions
from tests.detectors.drift.test_monitor import HOUR, T0, rows, set_reference, store


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of either backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def summarised_rows(engine: Engine) -> int:
    """Predictions counted in the stored interval summaries."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.sum(DriftSummaryRow.rows), 0))).scalar_one())


def test_a_late_backlog_is_summarised_again(engine: Engine) -> None:
    """An interval summarised with 600 predictions, then given 300 more late, is summarised with 900."""
    store(engine, "fraud", T0, rows(2000, seed=1), prefix="ref")
    set_reference(engine, "fraud")
    store(engine, "fraud", T0 + 2 * HOUR, rows(600, seed=2), prefix="on-time")
    monitor = DriftMonitor(engine, DriftOptions(window_s=HOUR, step_s=HOUR, settle_s=60))
    now = T0 + 3 * HOUR + 60
    monitor.evaluate(now)
    assert summarised_rows(engine) == 600
    store(engine, "fraud", T0 + 2 * HOUR, rows(300, seed=3), prefix="late")
    monitor.evaluate(now + 1)
    assert summarised_rows(engine) == 900


def test_nothing_new_forgets_nothing(engine: Engine) -> None:
    """Without new predictions a pass deletes no summary."""
    store(engine, "fraud", T0, rows(200, seed=1), prefix="ref")
    set_reference(engine, "fraud")
    forget_stale_summaries(engine, HOUR)
    forget_stale_summaries(engine, HOUR)
    assert forget_stale_summaries(engine, HOUR) == 0


def test_an_interval_is_summarised_once_when_nothing_arrives_late(engine: Engine) -> None:
    """Passes that re-read the last pass's predictions (for rows that commit out of id order) keep a summary
    that already counts them: each interval is read and summarised once, not once per re-read."""
    store(engine, "fraud", T0, rows(2000, seed=1), prefix="ref")
    set_reference(engine, "fraud")
    store(engine, "fraud", T0 + 2 * HOUR, rows(600, seed=2), prefix="on-time")
    monitor = DriftMonitor(engine, DriftOptions(window_s=HOUR, step_s=HOUR, settle_s=60))
    now = T0 + 3 * HOUR + 60
    monitor.evaluate(now)
    written = summary_stamps(engine)
    assert len(written) == 1
    for later in (1, 2, 3):
        monitor.evaluate(now + later)
        assert forget_stale_summaries(engine, HOUR) == 0
    assert summary_stamps(engine) == written


def summary_stamps(engine: Engine) -> list[tuple[int, datetime]]:
    """Id and write time of each stored interval summary: one forgotten and written again changes both (on
    SQLite the id alone may be reused)."""
    with engine.connect() as connection:
        query = select(DriftSummaryRow.id, DriftSummaryRow.created_at).order_by(DriftSummaryRow.id)
        return [(row.id, row.created_at) for row in connection.execute(query)]
