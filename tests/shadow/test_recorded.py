"""Sampling recorded raw inputs and outcomes from the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import insert

from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import OutcomeRow, PredictionRow
from shadow.errors import NoRecordedInputsError
from shadow.recorded import RecordedInput, parse_outcome, replay_order, sample_recorded_inputs, stratified_pick
from shadow.tensors import encode_raw_inputs

SECOND = 1_000_000_000


def _insert(url: str, count: int, *, model: str = "m", version: str = "1", busy_first_hour: bool = True) -> None:
    """Prediction rows with raw inputs: most of them in the first hour, a few over the next nine."""
    rows = []
    for i in range(count):
        hour = 0 if busy_first_hour and i < count * 0.8 else 1 + i % 9
        ts = (hour * 3600 + i) * SECOND
        raw = encode_raw_inputs({"x": np.full((1, 2), i, dtype=np.float32)})
        rows.append(
            {
                "prediction_id": f"{model}-{version}-{i}",
                "model_name": model,
                "model_version": version,
                "ts_unix_nano": ts,
                "received_unix_nano": ts,
                "features": {"country": ["FR", "DE"][i % 2], "amount": float(i)},
                "outputs": {},
                "raw_inputs": raw,
                "attributes": {"segment": "retail", "country": "ignored: the feature wins"},
            }
        )
    rows.append(
        {
            "prediction_id": "no-raw",
            "model_name": model,
            "model_version": version,
            "ts_unix_nano": 0,
            "received_unix_nano": 0,
            "features": {},
            "outputs": {},
            "raw_inputs": None,
            "attributes": {},
        }
    )
    outcomes = [
        {
            "prediction_id": f"{model}-{version}-{i}",
            "model_name": model,
            "ts_unix_nano": 0,
            "received_unix_nano": 0,
            "actual": {"label": str(i % 3)},
        }
        for i in range(0, count, 2)
    ]
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(insert(PredictionRow), rows)
        connection.execute(insert(OutcomeRow), outcomes)
    engine.dispose()


def test_sample_is_spread_over_time_and_joins_outcomes(migrated_db_url: str) -> None:
    """A 50-row sample of 500 (80% in one hour) draws from every hour and carries the known outcomes."""
    _insert(migrated_db_url, 500)
    sample = sample_recorded_inputs(migrated_db_url, "m", "1", 50, strata=10)
    assert len(sample.inputs) == 50
    assert sample.available == 500
    hours = {item.ts_unix_nano // (3600 * SECOND) for item in sample.inputs}
    assert hours == set(range(10))
    labelled = [item for item in sample.inputs if item.outcome is not None]
    assert labelled
    for item in labelled:
        index = int(item.inputs["x"][0, 0])
        assert item.outcome is not None
        assert item.outcome.label == str(index % 3)
    assert [item.ts_unix_nano for item in sample.inputs] == sorted(item.ts_unix_nano for item in sample.inputs)
    # Features and attributes come along as text, for [shadow] slice_by.
    for item in sample.inputs:
        index = int(item.inputs["x"][0, 0])
        assert dict(item.tags) == {"country": ["FR", "DE"][index % 2], "amount": str(float(index)), "segment": "retail"}


def test_sample_smaller_store_returns_everything(migrated_db_url: str) -> None:
    """Asking for more rows than are stored returns all of them (those without raw inputs left out)."""
    _insert(migrated_db_url, 20)
    assert len(sample_recorded_inputs(migrated_db_url, "m", "1", 100).inputs) == 20


def test_no_recorded_inputs_is_a_clear_error(migrated_db_url: str) -> None:
    """An unknown version (or one with no raw inputs) raises NoRecordedInputsError naming it."""
    _insert(migrated_db_url, 5)
    with pytest.raises(NoRecordedInputsError, match=r"model 'm' version '2'"):
        sample_recorded_inputs(migrated_db_url, "m", "2", 10)


def test_stratified_pick_is_even_and_deterministic() -> None:
    """Equal strata get equal shares; a sparse stratum gives what it has and the rest is redistributed."""
    ts = [*range(100), 1000]  # one row in the last stratum
    picked = stratified_pick(ts, 20, strata=10, seed=3)
    assert picked == stratified_pick(ts, 20, strata=10, seed=3)
    assert len(picked) == 20
    assert 100 in picked
    with pytest.raises(ValueError, match="`count` must be > 0"):
        stratified_pick(ts, 0, strata=2)


def test_parse_outcome_accepts_labels_and_values_only() -> None:
    """Labels become text, values floats; anything else is no outcome."""
    assert parse_outcome({"label": 3}) is not None
    assert parse_outcome({"value": 1.5}) is not None
    assert parse_outcome({"value": True}) is None
    assert parse_outcome([1]) is None


def test_replay_order_spreads_every_look_over_the_time_range() -> None:
    """A time-ordered stratified sample, shuffled with a seed: its first quarter has rows from every stratum."""
    ts = list(range(0, 10_000, 7))
    picked = stratified_pick(ts, 400, strata=10, seed=0)
    sample = [RecordedInput(f"p{i}", ts[i], {}) for i in picked]
    order = replay_order(sample, seed=0)
    assert sorted(item.prediction_id for item in order) == sorted(item.prediction_id for item in sample)
    assert order == replay_order(sample, seed=0)
    width = (max(ts) + 1) / 10
    first_look = {int(item.ts_unix_nano // width) for item in order[:100]}
    assert first_look == set(range(10))
    # In time order, the same first look would have seen only the oldest three strata.
    assert {int(item.ts_unix_nano // width) for item in sample[:100]} <= {0, 1, 2}
