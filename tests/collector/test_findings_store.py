"""Storing findings: idempotent per window, and a changed verdict is a new revision that followers see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.domain import Finding
from collector.core.findings import FindingFilter, findings_after, list_findings, store_findings
from collector.core.storage.engine import create_engine_for

WINDOW = (datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 1, 11, tzinfo=UTC))


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of either backend."""
    engine = create_engine_for(migrated_db_url)
    yield engine
    engine.dispose()


def finding(*, firing: bool, summary: str = "s") -> Finding:
    """A drift.performance finding over the fixed window."""
    return Finding(
        detector="drift.performance",
        model_name="fraud",
        model_version="7",
        subject="accuracy",
        severity="critical" if firing else "info",
        firing=firing,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        summary=summary,
    )


def stored(engine: Engine) -> list[Finding]:
    """Every stored finding."""
    return list_findings(engine, FindingFilter())


def test_same_verdict_updates_in_place_and_a_changed_one_is_a_new_revision(engine: Engine) -> None:
    """Re-evaluating with the same verdict keeps the revision; a window that starts firing later keeps its id
    (evidence links stay valid) and gets a new revision, which is what the alert engine follows."""
    store_findings(engine, [finding(firing=False, summary="first")])
    (quiet,) = stored(engine)
    assert quiet.id is not None
    assert quiet.revision is not None
    store_findings(engine, [finding(firing=False, summary="again")])
    (same,) = stored(engine)
    assert (same.id, same.revision, same.summary) == (quiet.id, quiet.revision, "again")
    store_findings(engine, [replace(finding(firing=False), subject="other")])
    other = next(f for f in stored(engine) if f.subject == "other")
    assert other.revision is not None
    assert other.revision > quiet.revision
    store_findings(engine, [finding(firing=True, summary="outcomes arrived")])
    fired = next(f for f in stored(engine) if f.subject == "accuracy")
    assert fired.firing
    assert fired.id == quiet.id
    assert fired.revision is not None
    assert fired.revision > other.revision
    with Session(engine) as session:
        assert [f.summary for f in findings_after(session, quiet.revision, 10)] == ["s", "outcomes arrived"]
        assert [f.summary for f in findings_after(session, other.revision, 10)] == ["outcomes arrived"]


def test_non_finite_numbers_deep_in_details_are_stored_as_null(engine: Engine) -> None:
    """An infinite RMSE or a NaN p-value inside details is stored as null instead of failing the whole pass."""
    nested = {"p_value": float("nan"), "current": {"metrics": [{"name": "rmse", "value": float("inf")}]}}
    store_findings(engine, [replace(finding(firing=True), details=nested), replace(finding(firing=False), subject="b")])
    by_subject = {f.subject: f for f in stored(engine)}
    assert by_subject["accuracy"].details == {
        "p_value": None,
        "current": {"metrics": [{"name": "rmse", "value": None}]},
    }
    assert "b" in by_subject
