"""Storing and listing findings: the hand-off from detectors to alerts, the CLI and the API."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from collector.core.domain import Finding
from collector.core.storage.tables import SEVERITIES, FindingRow
from collector.core.storage.upsert import upsert

_KEY = ("detector", "model_name", "model_version", "subject", "window_start", "window_end")
_UPDATED = ("severity", "firing", "value", "expected", "band_low", "band_high", "summary", "details", "since")


@dataclass(frozen=True)
class FindingFilter:
    """Which findings to list; None matches everything."""

    model_name: str | None = None
    model_version: str | None = None
    detector: str | None = None
    since: datetime | None = None
    firing_only: bool = False
    limit: int = 100
    offset: int = 0


def _finite(value: float | None) -> float | None:
    """NaN cannot be stored in JSON or compared; a detector that has no number says None."""
    return None if value is None or not math.isfinite(value) else value


def _json_safe(value: Any) -> Any:
    """Details with every NaN and infinity, however deep, as None: one would fail the whole pass's insert."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {key: _json_safe(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(inner) for inner in value]
    return value


def _row(finding: Finding) -> dict[str, Any]:
    if finding.severity not in SEVERITIES:
        raise ValueError(f"`severity` must be one of {', '.join(SEVERITIES)}, got {finding.severity!r}")
    return {
        "detector": finding.detector,
        "model_name": finding.model_name,
        "model_version": finding.model_version,
        "subject": finding.subject,
        "severity": finding.severity,
        "firing": finding.firing,
        "window_start": finding.window_start,
        "window_end": finding.window_end,
        "value": _finite(finding.value),
        "expected": _finite(finding.expected),
        "band_low": _finite(finding.band_low),
        "band_high": _finite(finding.band_high),
        "summary": finding.summary,
        "details": _json_safe(dict(finding.details)),
        "since": finding.since,
    }


def _next_revision(connection: Connection) -> int:
    """A revision larger than every one handed out so far.

    PostgreSQL takes it from a sequence (migration 0007). SQLite takes the largest plus one; this runs after
    the transaction's first write, so it holds SQLite's single write lock and no other writer can take the
    same number.
    """
    if connection.dialect.name == "postgresql":
        return int(connection.execute(text("SELECT nextval('findings_revision_seq')")).scalar_one())
    return int(connection.execute(select(func.coalesce(func.max(FindingRow.revision), 0))).scalar_one()) + 1


def store_findings(engine: Engine, findings: Sequence[Finding]) -> None:
    """Insert findings, replacing any for the same detector, model, subject and window (idempotent).

    A new finding, and one whose verdict changed (it fires now and did not, or its severity moved), gets a
    new revision, so whoever follows revisions (the alert engine) reads it again; its id stays, so evidence
    links already sent still open it. A re-evaluation with the same verdict updates the row in place and
    notifies nobody twice.
    """
    if not findings:
        return
    # In key order, so replicas storing the same windows lock them in the same order and cannot deadlock.
    rows = sorted((_row(finding) for finding in findings), key=lambda row: tuple(str(row[k]) for k in _KEY))
    statement = upsert(FindingRow, engine.dialect.name, index_elements=_KEY, update_columns=_UPDATED)
    with engine.begin() as connection:
        for row in rows:
            same_key = [getattr(FindingRow, column) == row[column] for column in _KEY]
            before = connection.execute(select(FindingRow.firing, FindingRow.severity).where(*same_key)).one_or_none()
            connection.execute(statement, row)
            if before is None or (before.firing, before.severity) != (row["firing"], row["severity"]):
                connection.execute(update(FindingRow).where(*same_key).values(revision=_next_revision(connection)))


def _finding(row: FindingRow) -> Finding:
    return Finding(
        detector=row.detector,
        model_name=row.model_name,
        model_version=row.model_version,
        subject=row.subject,
        severity=row.severity,
        firing=row.firing,
        window_start=row.window_start,
        window_end=row.window_end,
        summary=row.summary,
        value=row.value,
        expected=row.expected,
        band_low=row.band_low,
        band_high=row.band_high,
        details=row.details,
        since=row.since,
        id=row.id,
        created_at=row.created_at,
        revision=row.revision,
    )


def list_findings(engine: Engine, where: FindingFilter) -> list[Finding]:
    """Findings matching the filter, newest window first."""
    query = (
        select(FindingRow)
        .order_by(FindingRow.window_end.desc(), FindingRow.id.desc())
        .limit(where.limit)
        .offset(where.offset)
    )
    if where.model_name:
        query = query.where(FindingRow.model_name == where.model_name)
    if where.model_version:
        query = query.where(FindingRow.model_version == where.model_version)
    if where.detector:
        query = query.where(FindingRow.detector == where.detector)
    if where.since is not None:
        query = query.where(FindingRow.window_end >= where.since)
    if where.firing_only:
        query = query.where(FindingRow.firing.is_(True))
    with Session(engine) as session:
        return [_finding(row) for row in session.scalars(query)]


def findings_after(session: Session, after_revision: int, limit: int) -> list[Finding]:
    """Findings stored or changed after revision ``after_revision``, oldest first: how the alert engine
    follows them."""
    query = select(FindingRow).where(FindingRow.revision > after_revision).order_by(FindingRow.revision).limit(limit)
    return [_finding(row) for row in session.scalars(query)]


def get_finding(engine: Engine, finding_id: int) -> Finding | None:
    """One finding by id."""
    with Session(engine) as session:
        row = session.get(FindingRow, finding_id)
        return _finding(row) if row is not None else None


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """The stable JSON shape of a finding (CLI --json and the HTTP API)."""
    return {
        "id": finding.id,
        "detector": finding.detector,
        "model": finding.model_name,
        "version": finding.model_version,
        "subject": finding.subject,
        "severity": finding.severity,
        "firing": finding.firing,
        "window_start": finding.window_start.isoformat(),
        "window_end": finding.window_end.isoformat(),
        "value": finding.value,
        "expected": finding.expected,
        "band_low": finding.band_low,
        "band_high": finding.band_high,
        "summary": finding.summary,
        "since": finding.since.isoformat() if finding.since else None,
        "details": _json_safe(dict(finding.details)),
        "created_at": finding.created_at.isoformat() if finding.created_at else None,
    }
