"""The outcome prediction-id check on its own: bounded memory of recent ids, one lookup per request on the
real databases, and a database that refuses connections answered as "not checked" without asking it again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, insert

from collector.core.storage.engine import create_engine_for
from collector.core.storage.tables import PredictionRow
from collector.ingest.outcome_ids import (
    ID_QUERY_CHUNK,
    IdCheck,
    PredictionIdCheck,
    RecentPredictionIds,
    stored_prediction_ids,
)


def test_recent_ids_keep_the_last_distinct_ones_up_to_the_capacity() -> None:
    """The oldest goes when a new one comes; a retried id is not stored twice, so it cannot push others out."""
    recent = RecentPredictionIds(3)
    recent.add(["a", "b", "a", "c"])
    assert len(recent) == 3
    recent.add(["d"])
    assert "a" not in recent
    assert all(identifier in recent for identifier in ("b", "c", "d"))
    assert len(recent) == 3


def test_recent_ids_refuse_a_capacity_below_one() -> None:
    """A bad capacity is named."""
    with pytest.raises(ValueError, match="`capacity` must be > 0, got 0"):
        RecentPredictionIds(0)


def test_stored_ids_are_found_in_one_query_per_chunk(migrated_db_url: str) -> None:
    """More ids than one IN list holds: every stored one is found, none of the others."""
    engine = create_engine_for(migrated_db_url)
    try:
        stored = [f"p-{n}" for n in range(0, ID_QUERY_CHUNK + 500, 2)]
        with engine.begin() as connection:
            connection.execute(
                insert(PredictionRow),
                [
                    {
                        "prediction_id": pid,
                        "model_name": "m",
                        "ts_unix_nano": 1,
                        "received_unix_nano": 1,
                        "features": {},
                        "outputs": {},
                    }
                    for pid in stored
                ],
            )
        asked = [f"p-{n}" for n in range(ID_QUERY_CHUNK + 500)]
        with engine.connect() as connection:
            assert stored_prediction_ids(connection, asked) == set(stored)
        check = PredictionIdCheck(engine, recent_capacity=10)
        try:
            check.remember(["p-1"])
            found = asyncio.run(check.check([(0, "p-0"), (1, "p-1"), (2, "p-3"), (3, "p-5")], same_request={"p-5"}))
        finally:
            check.close()
        assert found == IdCheck(unknown=(2,))
    finally:
        engine.dispose()


def test_a_database_that_refuses_connections_leaves_ids_unchecked_and_is_not_asked_again_at_once() -> None:
    """Port 1 on loopback refuses at once. A second request within the pause makes no connection attempt."""
    engine = create_engine_for("postgresql+psycopg://nobody@127.0.0.1:1/none")
    attempts: list[object] = []
    event.listen(engine, "do_connect", lambda *args: attempts.append(args))
    check = PredictionIdCheck(engine, recent_capacity=10)
    try:
        check.remember(["recent"])
        first = asyncio.run(check.check([(0, "recent"), (1, "older")]))
        assert first == IdCheck(unchecked=(1,), reason="the database is unavailable")
        assert len(attempts) == 1
        second = asyncio.run(check.check([(0, "older")]))
        assert second == IdCheck(unchecked=(0,), reason="the database is unavailable")
        assert len(attempts) == 1
    finally:
        check.close()
        engine.dispose()
