"""Shadow runs and their variant results in the database, and each run's lease.

A run is held by one replica at a time (``claimed_by``), which refreshes ``heartbeat_at`` as it goes. Any
replica may claim a queued run, or a running one whose heartbeat is older than the lease ([shadow] lease_s):
its owner crashed. A graceful stop hands the run back to the queue. Every change of hands is one conditional
UPDATE whose row count says who won, so it holds on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.storage.shadow_tables import ShadowRunRow, ShadowVariantResultRow
from shadow.report import render_html
from shadow.result import ShadowResult


def create_run(engine: Engine, model_name: str, model_version: str, request: Mapping[str, Any]) -> str:
    """A queued run; returns its id."""
    with Session(engine) as session, session.begin():
        row = ShadowRunRow(model_name=model_name, model_version=model_version, request=dict(request), state="queued")
        session.add(row)
        session.flush()
        return row.id


def update_run(engine: Engine, run_id: str, **fields: Any) -> None:
    """Set fields of a run (state, phase, progress, timestamps, error)."""
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id)
        if row is None:
            raise KeyError(run_id)
        for name, value in fields.items():
            setattr(row, name, value)


def run_state(engine: Engine, run_id: str) -> str:
    """A run's state as stored (queued, running, succeeded, failed, cancelled)."""
    with Session(engine) as session:
        row = session.get(ShadowRunRow, run_id)
        if row is None:
            raise KeyError(run_id)
        return row.state


@dataclass(frozen=True)
class Claim:
    """A run this replica now holds the lease of, with what it needs to (re)start it."""

    run_id: str
    model_name: str
    model_version: str
    request: dict[str, Any]
    # The run had started before (on this replica or another): its replay restarts from the beginning.
    resumed: bool


def _claimable(cutoff: datetime) -> ColumnElement[bool]:
    """Queued, or running under a lease whose heartbeat is older than ``cutoff`` (its owner is gone).

    A run without a heartbeat is not leased (a CLI run, or one from before migration 0011): it is never taken.
    """
    return or_(
        ShadowRunRow.state == "queued",
        and_(
            ShadowRunRow.state == "running",
            ShadowRunRow.heartbeat_at.is_not(None),
            ShadowRunRow.heartbeat_at < cutoff,
        ),
    )


def claimable_runs(engine: Engine, lease_s: float, limit: int = 16) -> list[str]:
    """Ids of runs a replica may claim now, oldest first."""
    cutoff = datetime.now(tz=UTC) - timedelta(seconds=lease_s)
    with Session(engine) as session:
        return list(
            session.scalars(
                select(ShadowRunRow.id).where(_claimable(cutoff)).order_by(ShadowRunRow.created_at).limit(limit)
            )
        )


def _note(notes: list[str] | None, text: str) -> list[str]:
    return [*(notes or []), f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M:%S} UTC: {text}"]


def claim_run(engine: Engine, run_id: str, owner: str, *, lease_s: float, max_interruptions: int) -> Claim | None:
    """Take the lease of a queued run, or of a running one whose owner's heartbeat is older than ``lease_s``.

    One conditional UPDATE decides between replicas racing for the same run (SQLite and PostgreSQL alike):
    the one whose UPDATE matched the row holds it. None when the run was not claimable, or when taking it
    over would be its ``max_interruptions``-th interruption: the run then fails with that reason instead.
    """
    now = datetime.now(tz=UTC)
    with engine.begin() as connection:
        # What the run was, for its notes; the UPDATE below is what decides, whatever changed in between.
        before = connection.execute(
            select(
                ShadowRunRow.state, ShadowRunRow.claimed_by, ShadowRunRow.heartbeat_at, ShadowRunRow.started_at
            ).where(ShadowRunRow.id == run_id)
        ).first()
        if before is None:
            raise KeyError(run_id)
        claimed = connection.execute(
            update(ShadowRunRow)
            .where(ShadowRunRow.id == run_id, _claimable(now - timedelta(seconds=lease_s)))
            .values(
                state="running",
                claimed_by=owner,
                heartbeat_at=now,
                started_at=func.coalesce(ShadowRunRow.started_at, now),
                phase="starting",
                progress_done=0,
                parts=None,
                # Taking over a running run means its owner died holding it: an interruption.
                interruptions=ShadowRunRow.interruptions + case((ShadowRunRow.state == "running", 1), else_=0),
            )
        )
        if claimed.rowcount != 1:
            return None
        row = connection.execute(
            select(
                ShadowRunRow.model_name,
                ShadowRunRow.model_version,
                ShadowRunRow.request,
                ShadowRunRow.interruptions,
                ShadowRunRow.notes,
            ).where(ShadowRunRow.id == run_id)
        ).one()
        notes, resumed = row.notes, before.started_at is not None
        if before.state == "running":
            last = f"{before.heartbeat_at:%H:%M:%S} UTC" if before.heartbeat_at else "never"
            lost = f"the lease of {before.claimed_by} expired (its last heartbeat: {last})"
            if row.interruptions >= max_interruptions:
                error = (
                    f"the run was interrupted {row.interruptions} times, its replica gone without releasing it "
                    f"each time (last: {lost}); it is not resumed again, in case the run is what stops the service"
                )
                connection.execute(
                    update(ShadowRunRow)
                    .where(ShadowRunRow.id == run_id)
                    .values(state="failed", error=error, finished_at=now, notes=_note(notes, error))
                )
                return None
            notes = _note(notes, f"taken over by {owner}: {lost}; the replay restarts from the beginning")
        elif resumed:
            notes = _note(notes, f"resumed by {owner}; the replay restarts from the beginning")
        if notes != row.notes:
            connection.execute(update(ShadowRunRow).where(ShadowRunRow.id == run_id).values(notes=notes))
        return Claim(run_id, row.model_name, row.model_version, dict(row.request), resumed)


def _owned(run_id: str, owner: str) -> ColumnElement[bool]:
    return and_(ShadowRunRow.id == run_id, ShadowRunRow.state == "running", ShadowRunRow.claimed_by == owner)


def heartbeat(engine: Engine, run_id: str, owner: str, **progress: Any) -> bool:
    """Refresh the lease of a run ``owner`` holds, with its progress fields (phase, progress_*, parts).

    False when the run is no longer this owner's to run: cancelled, or taken over after a stale lease.
    """
    with engine.begin() as connection:
        result = connection.execute(
            update(ShadowRunRow).where(_owned(run_id, owner)).values(heartbeat_at=datetime.now(tz=UTC), **progress)
        )
        return result.rowcount == 1


def release_run(engine: Engine, run_id: str, owner: str, why: str) -> bool:
    """Hand a run ``owner`` holds back to the queue (a graceful stop): the next replica to claim it resumes it."""
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id, with_for_update=True)
        if row is None or row.state != "running" or row.claimed_by != owner:
            return False
        row.state, row.claimed_by, row.heartbeat_at = "queued", None, None
        row.phase, row.progress_done, row.parts = "queued", 0, None
        row.notes = _note(row.notes, f"released by {owner}: {why}; the replay restarts from the beginning")
        return True


def cancel_run(engine: Engine, run_id: str) -> str:
    """Cancel a queued or running run (its worker stops at its next progress report); returns the state it had."""
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id, with_for_update=True)
        if row is None:
            raise KeyError(run_id)
        before = row.state
        if before in ("queued", "running"):
            row.state, row.finished_at = "cancelled", datetime.now(tz=UTC)
        return before


def finish_run(
    engine: Engine,
    run_id: str,
    result: ShadowResult,
    owner: str | None = None,
    parts: Sequence[Mapping[str, Any]] | None = None,
) -> bool:
    """Store a finished run's recommendation and one row per measured model; False when it was not stored.

    Not over a cancellation, nor, given its ``owner``, over a run that owner no longer holds (released or taken
    over: the replica that holds it now reruns it).
    """
    document = result.to_dict()
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id, with_for_update=True)
        if row is None:
            raise KeyError(run_id)
        if row.state == "cancelled":
            return False  # cancelled after its last progress report: the cancellation stands
        if owner is not None and (row.state != "running" or row.claimed_by != owner):
            return False
        if parts is not None:
            row.parts = [dict(part) for part in parts]
        row.state = "succeeded"
        row.finished_at = datetime.now(tz=UTC)
        row.recommendation = document["recommendation"]
        # The same HTML as `inferwatch shadow run --report` writes, so the page and the file never differ.
        row.report_html = render_html(result)
        row.progress_done = row.progress_total
        for variant, stored in zip(result.results, document["results"], strict=True):
            session.add(
                ShadowVariantResultRow(
                    run_id=run_id,
                    name=variant.key,
                    execution_provider=variant.measurement.execution_provider,
                    hardware_class=variant.measurement.hardware_class,
                    metrics=stored,
                    error=variant.measurement.error,
                )
            )
        return True


def fail_run(
    engine: Engine,
    run_id: str,
    error: str,
    owner: str | None = None,
    parts: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Mark a run failed with the reason (a cancelled run stays cancelled; given its ``owner``, only while that
    owner holds it)."""
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id, with_for_update=True)
        if row is None:
            raise KeyError(run_id)
        if owner is not None and (row.state != "running" or row.claimed_by != owner):
            return
        if row.state != "cancelled":
            row.state, row.error, row.finished_at = "failed", error, datetime.now(tz=UTC)
            if parts is not None:
                row.parts = [dict(part) for part in parts]
