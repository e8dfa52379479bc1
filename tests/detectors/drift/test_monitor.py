"""The drift monitor on real SQLite and PostgreSQL: windows, stored summaries, findings, performance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from collector.core.domain import Finding
from collector.core.errors import ConfigError
from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import DriftSummaryRow, OutcomeRow, PredictionRow
from detectors.drift.monitor import (
    DATA,
    ESTIMATED,
    PERFORMANCE,
    PREDICTION,
    DriftMonitor,
    DriftOptions,
    parse_drift_section,
)
from detectors.drift.records import load_predictions
from detectors.drift.store import fit_from_range, save_reference

HOUR = 3600
T0 = 1_763_000_000 // HOUR * HOUR
NANOS = 1_000_000_000


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of either backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


Row = tuple[dict[str, Any], dict[str, Any]]


def rows(count: int, seed: int, shift: float = 0.0) -> list[Row]:
    """(features, output) pairs: amount ~ N(100 + 20 shift, 20), a country, and a score rising with amount."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        amount = float(rng.normal(100 + 20 * shift, 20))
        fraud = float(1 / (1 + np.exp(-(amount - 130) / 10)))
        country = str(rng.choice(["DE", "FR", "US"]))
        output = {"labels": ["ok", "fraud"], "scores": [1 - fraud, fraud], "label": "fraud" if fraud > 0.5 else "ok"}
        out.append(({"amount": amount, "age": float(rng.normal(40, 10)), "country": country}, output))
    return out


def store(engine: Engine, model: str, start_s: int, data: list[Row], *, prefix: str, span_s: int = HOUR) -> list[str]:
    """Insert predictions spread evenly over ``[start_s, start_s + span_s)``; returns their ids."""
    ids = [f"{prefix}-{i}" for i in range(len(data))]
    step = span_s * NANOS // len(data)
    with engine.begin() as connection:
        connection.execute(
            insert(PredictionRow),
            [
                {
                    "prediction_id": pid,
                    "model_name": model,
                    "model_version": "1",
                    "ts_unix_nano": start_s * NANOS + i * step,
                    "received_unix_nano": start_s * NANOS + i * step,
                    "features": features,
                    "outputs": output,
                    "attributes": {},
                    "non_finite_count": 0,
                }
                for i, (pid, (features, output)) in enumerate(zip(ids, data, strict=True))
            ],
        )
    return ids


def store_outcomes(engine: Engine, ids: list[str], labels: list[str]) -> None:
    """The true label of each prediction id."""
    with engine.begin() as connection:
        connection.execute(
            insert(OutcomeRow),
            [
                {
                    "prediction_id": pid,
                    "model_name": "m",
                    "ts_unix_nano": 0,
                    "received_unix_nano": 0,
                    "actual": {"label": label},
                }
                for pid, label in zip(ids, labels, strict=True)
            ],
        )


def label_outcomes(engine: Engine, ids: list[str], data: list[Row], accuracy: float, seed: int) -> None:
    """Outcomes that agree with the predicted label for an ``accuracy`` share of the predictions."""
    rng = np.random.default_rng(seed)
    flip = {"ok": "fraud", "fraud": "ok"}
    labels = [output["label"] if rng.random() < accuracy else flip[output["label"]] for _, output in data]
    store_outcomes(engine, ids, labels)


def calibrated_outcomes(engine: Engine, ids: list[str], data: list[Row], seed: int) -> None:
    """Outcomes drawn from the model's own scores: a calibrated model, right as often as it is confident."""
    rng = np.random.default_rng(seed)
    store_outcomes(engine, ids, ["fraud" if rng.random() < output["scores"][1] else "ok" for _, output in data])


def set_reference(engine: Engine, model: str) -> None:
    """The version's first hour is its reference."""
    start, end = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + HOUR, UTC)
    fitted = fit_from_range(engine, model, "1", start=start, end=end)
    save_reference(engine, model, "1", fitted, range_start=start, range_end=end)


def by_key(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    """Findings by (model, detector)."""
    return {(f.model_name, f.detector): f for f in findings}


def test_shift_fires_null_does_not_and_reevaluation_changes_nothing(engine: Engine) -> None:
    """A shifted version fires data and prediction drift naming the feature; a steady one does not; twice is once."""
    for model, shift in (("steady", 0.0), ("shifted", 1.0)):
        store(engine, model, T0, rows(2000, seed=1), prefix=f"{model}-ref")
        set_reference(engine, model)
        store(engine, model, T0 + 2 * HOUR, rows(1000, seed=5, shift=shift), prefix=f"{model}-cur")
    monitor = DriftMonitor(engine)
    now = T0 + 3 * HOUR + monitor.options.settle_s
    found = by_key(monitor.evaluate(now))
    assert not found["steady", DATA].firing
    assert not found["steady", PREDICTION].firing
    shifted = found["shifted", DATA]
    assert shifted.firing
    assert shifted.severity == "warning"
    assert shifted.window_start == datetime.fromtimestamp(T0 + 2 * HOUR, UTC)
    assert shifted.window_end == datetime.fromtimestamp(T0 + 3 * HOUR, UTC)
    assert "amount" in shifted.summary
    assert "age" not in shifted.details["report"]["drifted_features"]
    assert found["shifted", PREDICTION].firing
    with engine.connect() as connection:
        summaries = connection.execute(select(func.count()).select_from(DriftSummaryRow)).scalar_one()
    assert summaries == 2 * HOUR // monitor.options.step_s
    again = by_key(DriftMonitor(engine).evaluate(now))
    assert {k: (f.firing, f.summary) for k, f in again.items()} == {k: (f.firing, f.summary) for k, f in found.items()}
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(DriftSummaryRow)).scalar_one() == summaries


def test_below_min_count_says_not_enough_data(engine: Engine) -> None:
    """A window of 20 predictions is not judged, however different it is."""
    store(engine, "quiet", T0, rows(2000, seed=1), prefix="ref")
    set_reference(engine, "quiet")
    store(engine, "quiet", T0 + HOUR, rows(20, seed=2, shift=3.0), prefix="cur")
    monitor = DriftMonitor(engine, DriftOptions(min_count=100))
    finding = by_key(monitor.evaluate(T0 + 2 * HOUR + monitor.options.settle_s))["quiet", DATA]
    assert not finding.firing
    assert finding.summary == "not enough data: 20 predictions in the window, 100 needed"
    assert finding.details["enough_data"] is False


def test_an_idle_version_says_not_enough_data_once_per_change_of_state(engine: Engine) -> None:
    """Idle windows after a judged one give one "not enough data" finding, not one per step; data again resets it."""
    store(engine, "idle", T0, rows(2000, seed=1), prefix="ref")
    set_reference(engine, "idle")
    store(engine, "idle", T0 + HOUR, rows(500, seed=2), prefix="busy")
    store(engine, "idle", T0 + 5 * HOUR, rows(500, seed=3), prefix="again")
    monitor = DriftMonitor(engine, DriftOptions(min_count=100))
    settle = monitor.options.settle_s
    said = []
    for hour in range(2, 8):
        found = by_key(monitor.evaluate(T0 + hour * HOUR + settle))
        finding = found.get(("idle", DATA))
        said.append(None if finding is None else finding.details["enough_data"])
    # hours ending 2 (judged), 3 (idle: said), 4 and 5 (idle: silent), 6 (judged), 7 (idle: said again)
    assert said == [True, False, None, None, True, False]


def test_rolling_window_ends_at_the_last_step(engine: Engine) -> None:
    """A rolling window is the last window_s ending at the newest settled step boundary."""
    monitor = DriftMonitor(engine, DriftOptions(window="rolling", window_s=HOUR, step_s=600, settle_s=60))
    window = monitor.latest_window(T0 + 1500)
    assert (window.start_s, window.end_s) == (T0 + 1200 - HOUR, T0 + 1200)
    tumbling = DriftMonitor(engine, DriftOptions(window_s=HOUR, step_s=600, settle_s=60)).latest_window(T0 + 1500)
    assert (tumbling.start_s, tumbling.end_s) == (T0 - HOUR, T0)


def test_accuracy_drop_against_outcomes_is_performance_drift(engine: Engine) -> None:
    """90% right on the reference, 60% in the window: a critical finding with both numbers; the reference's own
    hour, also within ``performance_windows``, is quiet."""
    reference = rows(1000, seed=1)
    label_outcomes(engine, store(engine, "m", T0, reference, prefix="ref"), reference, 0.9, seed=3)
    set_reference(engine, "m")
    current = rows(500, seed=2)
    label_outcomes(engine, store(engine, "m", T0 + HOUR, current, prefix="cur"), current, 0.6, seed=4)
    monitor = DriftMonitor(engine, DriftOptions(performance_windows=2))
    found = [f for f in monitor.evaluate(T0 + 2 * HOUR + monitor.options.settle_s) if f.detector == PERFORMANCE]
    quiet, finding = sorted(found, key=lambda f: f.window_start)
    assert not quiet.firing
    assert quiet.window_start == datetime.fromtimestamp(T0, UTC)
    assert finding.firing
    assert finding.severity == "critical"
    assert finding.subject == "accuracy"
    assert finding.expected == pytest.approx(0.9, abs=0.03)
    assert finding.value == pytest.approx(0.6, abs=0.05)
    assert finding.details["outcomes"] == 500


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"windw": 1}, "unknown key"),
        ({"window": "sliding"}, "must be 'tumbling' or 'rolling'"),
        ({"window_s": "1h"}, "window_s must be a int"),
        ({"window_s": 1000, "step_s": 300}, "must be a multiple of `step_s`"),
        ({"alpha": 2}, "`alpha` must be in"),
    ],
)
def test_bad_drift_section_names_the_key(section: dict[str, Any], message: str) -> None:
    """A bad [drift] value stops start-up naming it."""
    with pytest.raises(ConfigError, match=message):
        parse_drift_section(section)


def test_good_drift_section_is_read() -> None:
    """Integers are accepted for float keys; everything else keeps its default."""
    options = parse_drift_section(
        {"window": "rolling", "window_s": 7200, "alpha": 0, "min_count": 50} | {"alpha": 1e-3}
    )
    assert options == DriftOptions(window="rolling", window_s=7200, min_count=50, alpha=1e-3)


def test_accuracy_is_estimated_from_confidence_before_outcomes_arrive(engine: Engine) -> None:
    """Traffic moving toward the decision boundary lowers the estimated accuracy, with no outcome in the window;
    the estimate matches the accuracy the scores imply, and unchanged traffic does not fire."""
    for model, shift in (("steady", 0.0), ("boundary", 1.5)):
        reference = rows(3000, seed=1)
        calibrated_outcomes(engine, store(engine, model, T0, reference, prefix=f"{model}-ref"), reference, seed=2)
        set_reference(engine, model)
        store(engine, model, T0 + HOUR, rows(1000, seed=3, shift=shift), prefix=f"{model}-cur")
    monitor = DriftMonitor(engine)
    found = by_key(monitor.evaluate(T0 + 2 * HOUR + monitor.options.settle_s))
    steady, boundary = found["steady", ESTIMATED], found["boundary", ESTIMATED]
    assert not steady.firing
    assert boundary.firing
    assert boundary.expected is not None
    assert boundary.value is not None
    assert boundary.expected > 0.9
    implied = np.mean([max(output["scores"]) for _, output in rows(1000, seed=3, shift=1.5)])
    assert boundary.value == pytest.approx(implied, abs=0.03)
    assert boundary.value < boundary.expected - 0.1


def test_a_large_reference_range_is_sampled_evenly(engine: Engine) -> None:
    """Above max_rows, every k-th prediction by id is read: the sample spans the whole range, deterministically."""
    store(engine, "big", T0, rows(100, seed=1), prefix="big")
    columns = load_predictions(engine, "big", "1", T0 * NANOS, (T0 + HOUR) * NANOS, max_rows=10)
    assert 8 <= columns.rows <= 10
    ids = [int(pid.split("-")[1]) for pid in columns.prediction_ids]
    assert min(ids) < 15
    assert max(ids) > 85
    again = load_predictions(engine, "big", "1", T0 * NANOS, (T0 + HOUR) * NANOS, max_rows=10)
    assert again.prediction_ids == columns.prediction_ids
