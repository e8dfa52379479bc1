"""Shadow runs and their variant results in the database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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


def start_run(engine: Engine, run_id: str) -> bool:
    """Move a queued run to running; False when it was cancelled (or taken) before its worker began."""
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id, with_for_update=True)
        if row is None:
            raise KeyError(run_id)
        if row.state != "queued":
            return False
        row.state, row.started_at = "running", datetime.now(tz=UTC)
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


def finish_run(engine: Engine, run_id: str, result: ShadowResult) -> None:
    """Store a finished run's recommendation and one row per measured model (not over a cancellation)."""
    document = result.to_dict()
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id, with_for_update=True)
        if row is None:
            raise KeyError(run_id)
        if row.state == "cancelled":
            return  # cancelled after its last progress report: the cancellation stands
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


def fail_run(engine: Engine, run_id: str, error: str) -> None:
    """Mark a run failed with the reason (a cancelled run stays cancelled)."""
    with Session(engine) as session, session.begin():
        row = session.get(ShadowRunRow, run_id, with_for_update=True)
        if row is None:
            raise KeyError(run_id)
        if row.state != "cancelled":
            row.state, row.error, row.finished_at = "failed", error, datetime.now(tz=UTC)
