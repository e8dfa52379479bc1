"""A run's lease in the database (shadow.store), on SQLite and PostgreSQL: claimed once, heartbeated, released,
taken over after its owner's heartbeat went stale, and failed after too many interruptions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from collector.core.storage.engine import create_engine_for
from collector.core.storage.shadow_tables import ShadowRunRow
from shadow.store import (
    cancel_run,
    claim_run,
    claimable_runs,
    create_run,
    fail_run,
    heartbeat,
    release_run,
    run_state,
)

_LEASE_S = 60.0


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a fresh, migrated database of each backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def _claim(engine: Engine, run_id: str, owner: str, max_interruptions: int = 3) -> bool:
    return claim_run(engine, run_id, owner, lease_s=_LEASE_S, max_interruptions=max_interruptions) is not None


def _age_heartbeat(engine: Engine, run_id: str, seconds: float) -> None:
    """As if the owner last said it was alive ``seconds`` ago (it died then)."""
    with engine.begin() as connection:
        connection.execute(
            update(ShadowRunRow)
            .where(ShadowRunRow.id == run_id)
            .values(heartbeat_at=datetime.now(tz=UTC) - timedelta(seconds=seconds))
        )


def _row(engine: Engine, run_id: str) -> ShadowRunRow:
    from sqlalchemy.orm import Session

    with Session(engine, expire_on_commit=False) as session:
        row = session.get(ShadowRunRow, run_id)
        assert row is not None
        return row


def test_a_queued_run_is_claimed_by_one_replica_only(engine: Engine) -> None:
    """The first claim holds it, with a heartbeat; a second replica's claim of a live lease matches nothing."""
    run_id = create_run(engine, "iris", "1", {"start_request": {}})
    assert claimable_runs(engine, _LEASE_S) == [run_id]
    claim = claim_run(engine, run_id, "replica-a", lease_s=_LEASE_S, max_interruptions=3)
    assert claim is not None
    assert (claim.model_name, claim.model_version, claim.resumed) == ("iris", "1", False)
    assert not _claim(engine, run_id, "replica-b")
    row = _row(engine, run_id)
    assert (row.state, row.claimed_by, row.interruptions) == ("running", "replica-a", 0)
    assert row.heartbeat_at is not None
    assert row.started_at is not None
    assert claimable_runs(engine, _LEASE_S) == []


def test_racing_replicas_claim_a_run_exactly_once(engine: Engine) -> None:
    """Eight threads claim the same queued run at once: the conditional UPDATE lets exactly one win."""
    run_id = create_run(engine, "iris", "1", {})
    barrier = threading.Barrier(8)
    won: list[str] = []

    def race(owner: str) -> None:
        barrier.wait()
        if _claim(engine, run_id, owner):
            won.append(owner)

    threads = [threading.Thread(target=race, args=(f"replica-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert _row(engine, run_id).claimed_by == won[0]


def test_heartbeat_keeps_the_lease_and_reports_a_cancellation(engine: Engine) -> None:
    """The owner's heartbeat writes progress; another replica's, or one after a cancellation, matches nothing."""
    run_id = create_run(engine, "iris", "1", {})
    assert _claim(engine, run_id, "replica-a")
    parts = [{"key": "baseline", "state": "running", "done": 3, "total": 10}]
    assert heartbeat(engine, run_id, "replica-a", progress_done=3, progress_total=10, phase="replay", parts=parts)
    assert not heartbeat(engine, run_id, "replica-b")
    row = _row(engine, run_id)
    assert (row.progress_done, row.phase, row.parts) == (3, "replay", parts)
    assert cancel_run(engine, run_id) == "running"
    assert not heartbeat(engine, run_id, "replica-a")
    assert run_state(engine, run_id) == "cancelled"
    assert claimable_runs(engine, _LEASE_S) == []


def test_a_stale_lease_is_taken_over_with_a_note(engine: Engine) -> None:
    """A running run whose heartbeat is older than the lease goes to the replica that claims it, counted as an
    interruption; the old owner's heartbeat and failure then match nothing."""
    run_id = create_run(engine, "iris", "1", {})
    assert _claim(engine, run_id, "replica-a")
    _age_heartbeat(engine, run_id, _LEASE_S - 5)
    assert not _claim(engine, run_id, "replica-b"), "a lease still within its time is not taken"
    _age_heartbeat(engine, run_id, _LEASE_S + 5)
    assert claimable_runs(engine, _LEASE_S) == [run_id]
    claim = claim_run(engine, run_id, "replica-b", lease_s=_LEASE_S, max_interruptions=3)
    assert claim is not None
    assert claim.resumed
    assert not heartbeat(engine, run_id, "replica-a")
    fail_run(engine, run_id, "replica-a's thread ended badly", owner="replica-a")
    row = _row(engine, run_id)
    assert (row.state, row.claimed_by, row.interruptions, row.error) == ("running", "replica-b", 1, None)
    assert row.notes is not None
    assert len(row.notes) == 1
    assert "taken over by replica-b: the lease of replica-a expired" in row.notes[0]
    assert "restarts from the beginning" in row.notes[0]


def test_a_run_interrupted_too_often_fails_with_the_reason(engine: Engine) -> None:
    """Each takeover counts; the one that reaches max_interruptions fails the run instead of running it again."""
    run_id = create_run(engine, "iris", "1", {})
    assert _claim(engine, run_id, "replica-0", max_interruptions=2)
    _age_heartbeat(engine, run_id, _LEASE_S + 1)
    assert _claim(engine, run_id, "replica-1", max_interruptions=2)
    _age_heartbeat(engine, run_id, _LEASE_S + 1)
    assert not _claim(engine, run_id, "replica-2", max_interruptions=2)
    row = _row(engine, run_id)
    assert (row.state, row.interruptions) == ("failed", 2)
    assert row.error is not None
    assert "interrupted 2 times" in row.error
    assert "the lease of replica-1 expired" in row.error
    assert row.finished_at is not None
    assert claimable_runs(engine, _LEASE_S) == []


def test_a_released_run_is_queued_again_and_resumed_from_the_start(engine: Engine) -> None:
    """A graceful stop hands the run back with a note; the next claim resumes it, with no interruption counted."""
    run_id = create_run(engine, "iris", "1", {})
    assert _claim(engine, run_id, "replica-a")
    heartbeat(engine, run_id, "replica-a", progress_done=5, progress_total=10, parts=[{"key": "baseline"}])
    assert not release_run(engine, run_id, "replica-b", "its replica stopped"), "only the owner releases"
    assert release_run(engine, run_id, "replica-a", "its replica stopped")
    row = _row(engine, run_id)
    assert (row.state, row.claimed_by, row.heartbeat_at, row.progress_done, row.parts) == (
        "queued",
        None,
        None,
        0,
        None,
    )
    claim = claim_run(engine, run_id, "replica-a", lease_s=_LEASE_S, max_interruptions=3)
    assert claim is not None
    assert claim.resumed
    notes = _row(engine, run_id).notes
    assert notes is not None
    assert len(notes) == 2
    assert "released by replica-a: its replica stopped; the replay restarts from the beginning" in notes[0]
    assert "resumed by replica-a" in notes[1]
    assert _row(engine, run_id).interruptions == 0


def test_a_run_without_a_lease_is_never_taken(engine: Engine) -> None:
    """A run the CLI runs itself (running, no heartbeat) is not a lease any replica could take over."""
    run_id = create_run(engine, "iris", "1", {})
    with engine.begin() as connection:
        connection.execute(update(ShadowRunRow).where(ShadowRunRow.id == run_id).values(state="running"))
    assert claimable_runs(engine, _LEASE_S) == []
    assert not _claim(engine, run_id, "replica-a")
