"""Recorded raw inputs (and their outcomes) sampled from the store for replay, time-stratified.

The time range of a model version's recorded inputs is split into ``strata`` equal intervals and the sample
is spread evenly over them, so a replay sees night and day, old and new traffic, not only the busiest hour.
Only ids and timestamps are read for the whole range; raw inputs are fetched for the chosen rows only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import OutcomeRow, PredictionRow
from shadow.errors import InvalidTensorError, NoRecordedInputsError
from shadow.tensors import Feed, decode_raw_inputs

_FETCH_CHUNK: Final = 500


@dataclass(frozen=True)
class Outcome:
    """Ground truth for one prediction: a class label or a numeric value."""

    label: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class RecordedInput:
    """One recorded request: what the model saw, when, and the outcome when it is known."""

    prediction_id: str
    ts_unix_nano: int
    inputs: Feed
    outcome: Outcome | None = None
    # What the prediction was recorded with besides its tensors (its features, then its attributes), as text:
    # the values `[shadow] slice_by` can slice quality by (a country, a customer segment).
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedSample:
    """The replay sample, in time order, and what was left out of it."""

    inputs: tuple[RecordedInput, ...]
    available: int
    undecodable: int
    strata: int


def _tags(features: Any, attributes: Any) -> dict[str, str]:
    """A prediction's attributes and features as text; a feature wins over an attribute of the same name."""
    tags: dict[str, str] = {}
    for source in (attributes, features):
        if isinstance(source, Mapping):
            tags.update({str(key): str(value) for key, value in source.items() if value is not None})
    return tags


def parse_outcome(actual: Any) -> Outcome | None:
    """``outcomes.actual`` JSON (``{"label": "x"}`` or ``{"value": 1.5}``) as an Outcome; None if neither."""
    if not isinstance(actual, dict):
        return None
    if actual.get("label") is not None:
        return Outcome(label=str(actual["label"]))
    value = actual.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Outcome(value=float(value))
    return None


def stratified_pick(ts: Sequence[int], count: int, strata: int, seed: int = 0) -> list[int]:
    """Indices into ``ts`` (at most ``count``): equal time strata, an equal share from each, spare to the rest."""
    if count <= 0:
        raise ValueError(f"`count` must be > 0, got {count}")
    if strata <= 0:
        raise ValueError(f"`strata` must be > 0, got {strata}")
    times = np.asarray(ts, dtype=np.int64)
    if times.size <= count:
        return list(range(times.size))
    low, high = int(times.min()), int(times.max())
    edges = np.linspace(low, high + 1, strata + 1)
    bins = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, strata - 1)
    members = [np.flatnonzero(bins == k) for k in range(strata)]
    quota = [0] * strata
    remaining = count
    open_strata = [k for k in range(strata) if members[k].size]
    # Water-filling: share what is left evenly among strata that still have rows to give.
    while remaining and open_strata:
        share, extra = divmod(remaining, len(open_strata))
        next_open = []
        for rank, k in enumerate(open_strata):
            take = min(share + (1 if rank < extra else 0), members[k].size - quota[k])
            quota[k] += take
            remaining -= take
            if quota[k] < members[k].size:
                next_open.append(k)
        open_strata = next_open
    rng = np.random.default_rng(seed)
    picked = [rng.choice(members[k], size=quota[k], replace=False) for k in range(strata) if quota[k]]
    return sorted(int(i) for i in np.concatenate(picked))


def replay_order(inputs: Sequence[RecordedInput], seed: int = 0) -> list[RecordedInput]:
    """The sample in a seeded random order, so every prefix (every look of a replay) spans the time range."""
    order = np.random.default_rng(seed).permutation(len(inputs))
    return [inputs[int(i)] for i in order]


def sample_recorded_inputs(
    db: str | Engine,
    model_name: str,
    model_version: str,
    count: int,
    *,
    strata: int = 10,
    seed: int = 0,
    start_unix_nano: int | None = None,
    end_unix_nano: int | None = None,
) -> RecordedSample:
    """A time-stratified sample of ``count`` recorded inputs of one model version, with joined outcomes.

    Raises NoRecordedInputsError when the version has no stored raw inputs (in the range), or none decodes.
    """
    if count <= 0:
        raise ValueError(f"`count` must be > 0, got {count}")
    engine = create_engine_for(db) if isinstance(db, str) else db
    try:
        return _sample(
            engine,
            model_name,
            model_version,
            count=count,
            strata=strata,
            seed=seed,
            start=start_unix_nano,
            end=end_unix_nano,
        )
    finally:
        if isinstance(db, str):
            engine.dispose()


def _sample(
    engine: Engine,
    model_name: str,
    model_version: str,
    *,
    count: int,
    strata: int,
    seed: int,
    start: int | None,
    end: int | None,
) -> RecordedSample:
    """The body of sample_recorded_inputs, on an open engine."""
    predictions = PredictionRow.__table__
    outcomes = OutcomeRow.__table__
    where = [
        predictions.c.model_name == model_name,
        predictions.c.model_version == model_version,
        predictions.c.raw_inputs.is_not(None),
    ]
    if start is not None:
        where.append(predictions.c.ts_unix_nano >= start)
    if end is not None:
        where.append(predictions.c.ts_unix_nano < end)
    with engine.connect() as connection:
        keys = connection.execute(
            select(predictions.c.id, predictions.c.ts_unix_nano).where(*where).order_by(predictions.c.ts_unix_nano)
        ).all()
        if not keys:
            raise NoRecordedInputsError(
                f"no recorded raw inputs for model {model_name!r} version {model_version!r}"
                + (" in the requested time range" if start is not None or end is not None else "")
                + ": record predictions with raw_inputs before starting a shadow run"
            )
        chosen = [int(keys[i][0]) for i in stratified_pick([int(k[1]) for k in keys], count, strata, seed)]
        rows: list[Any] = []
        joined = predictions.outerjoin(outcomes, and_(outcomes.c.prediction_id == predictions.c.prediction_id))
        for offset in range(0, len(chosen), _FETCH_CHUNK):
            ids = chosen[offset : offset + _FETCH_CHUNK]
            rows += connection.execute(
                select(
                    predictions.c.prediction_id,
                    predictions.c.ts_unix_nano,
                    predictions.c.raw_inputs,
                    outcomes.c.actual,
                    predictions.c.features,
                    predictions.c.attributes,
                )
                .select_from(joined)
                .where(predictions.c.id.in_(ids))
            ).all()
    recorded: list[RecordedInput] = []
    undecodable = 0
    for prediction_id, ts, raw, actual, features, attributes in sorted(rows, key=lambda row: (row[1], row[0])):
        try:
            feed = decode_raw_inputs(bytes(raw))
        except InvalidTensorError:
            undecodable += 1  # one bad record must not sink the run; it is counted and reported
            continue
        recorded.append(RecordedInput(prediction_id, int(ts), feed, parse_outcome(actual), _tags(features, attributes)))
    if not recorded:
        raise NoRecordedInputsError(
            f"none of the {undecodable} sampled raw inputs of model {model_name!r} version {model_version!r} decodes"
        )
    return RecordedSample(tuple(recorded), available=len(keys), undecodable=undecodable, strata=strata)
