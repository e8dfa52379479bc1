"""Burn rates for /metrics keep settled minutes between refreshes and still agree with the SLO detector's math."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from collector.core.storage.engine import create_engine_for
from collector.service.model_burn import LONGEST_S, BurnReader
from detectors.latency_sketch import LatencySketch
from detectors.rollups import Rollup, RollupKey, load_rollups, store_rollups
from detectors.slo import SLO, evaluate_slo

START = 1_800_000_000 // 3600 * 3600
SETTLED_AFTER_S = 6 * 3600
SLOS = (SLO("fraud", "availability", 0.999), SLO("fraud", "latency", 0.99, 120.0))


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of either backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def traffic(start_s: int, end_s: int, seed: int) -> list[Rollup]:
    """Every seventh minute of ``[start_s, end_s)``, on two hardware classes, with random errors and latencies
    around the 120 ms threshold; another model beside it that no SLO counts."""
    rng = np.random.default_rng(seed)
    rollups = []
    for bucket in range(start_s // 60 * 60, end_s, 7 * 60):
        for model, hardware in (("fraud", "cpu"), ("fraud", "nvidia-t4"), ("chat", "cpu")):
            durations = rng.lognormal(np.log(100.0), 0.3, int(rng.integers(5, 40)))
            errors = int(rng.binomial(len(durations), 0.02))
            key = RollupKey(model, "1", "predict", hardware)
            sketch = LatencySketch.from_durations_ms(durations)
            rollups.append(Rollup(key, 60, bucket, len(durations), errors, 0, 0, 0, sketch))
    return rollups


def expected(engine: Engine, now_s: int) -> list[tuple[str, str, float]]:
    """The detector's own evaluation over freshly loaded rollups, as (slo, window, burn) rows."""
    end = now_s + 1
    rollups = load_rollups(engine, end - LONGEST_S, end + 60, 60, model_name="fraud")
    rows = []
    for slo in SLOS:
        for verdict in evaluate_slo(slo, rollups, end).verdicts:
            long_name, short_name = verdict.window.name.split("/")
            rows += [(slo.name, long_name, verdict.long_burn), (slo.name, short_name, verdict.short_burn)]
    return rows


def test_refreshes_across_the_settle_horizon_agree_with_a_fresh_evaluation(engine: Engine) -> None:
    """Refresh after refresh, with minutes settling, old ones leaving the 3-day window and new traffic
    arriving (late into the live part too), every burn rate equals the detector's evaluation from scratch."""
    now = START + LONGEST_S + 3600
    store_rollups(engine, traffic(START, now, seed=1))
    reader = BurnReader(engine, SLOS, 60, SETTLED_AFTER_S)
    for step, advance in enumerate((0, 60, 7 * 3600, 600, 60, SETTLED_AFTER_S + 120)):
        previous, now = now, now + advance
        # New minutes, and a late one an hour back, within the part that is re-read every time.
        store_rollups(
            engine, traffic(previous, now + 1, seed=10 + step) + traffic(now - 3600, now - 3599, seed=50 + step)
        )
        read = reader.read(now)
        got = [(series.slo, burn.window, burn.burn_rate) for series in read for burn in series.burn_rates]
        want = expected(engine, now)
        assert [(slo, window) for slo, window, _ in got] == [(slo, window) for slo, window, _ in want]
        assert [rate for *_, rate in got] == pytest.approx([rate for *_, rate in want])
        assert any(rate > 0 for *_, rate in got)


def test_no_slos_reads_nothing(engine: Engine) -> None:
    """Without SLOs there is nothing to read."""
    assert BurnReader(engine, (), 60, SETTLED_AFTER_S).read(START) == ()
