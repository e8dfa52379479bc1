"""The alert state machine: findings in, alerts pending, firing and resolved out.

A firing finding opens an alert (pending), which fires once the condition has held for ``for``, measured on
the findings' own window ends so replaying them gives the same answer. A firing alert resolves only after
no finding has fired for ``keep_firing_for`` (hysteresis): a detector that flaps between firing and quiet
keeps one alert firing instead of paging on every flip. A quiet finding drops a pending alert at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.model import FIRING, PENDING, RESOLVED, condition_key, finding_annotations, finding_labels, fingerprint
from collector.core.domain import Finding
from collector.core.findings import findings_after
from collector.core.storage.alert_tables import AlertCursorRow, AlertRow

FINDINGS_CURSOR: Final = "findings"
BATCH: Final = 1000


@dataclass(frozen=True)
class LifecycleOptions:
    """The timing of the lifecycle and what the annotations link to."""

    for_s: float = 60.0
    keep_firing_for_s: float = 300.0
    external_url: str = ""
    runbook_url: str = ""


def evidence_url(external_url: str, finding_id: int | None) -> str:
    """The page of the finding that raised the alert (its JSON is one click away there)."""
    return f"{external_url}/findings/{finding_id}" if finding_id is not None else ""


def _runbook(template: str, labels: dict[str, str]) -> str:
    """``https://runbooks/{alertname}`` with the alert's labels filled in; unknown names stay as written."""
    try:
        return template.format_map(labels)
    except (KeyError, IndexError, ValueError):
        return template


def _active(session: Session) -> list[AlertRow]:
    return list(session.scalars(select(AlertRow).where(AlertRow.state.in_((PENDING, FIRING)))))


def _clear_pending(session: Session, row: AlertRow) -> None:
    """A pending alert whose condition went away: back to resolved if it fired before, else forgotten."""
    if row.ends_at is not None:
        row.state = RESOLVED
        row.pending_since = None
    else:
        session.delete(row)


def _evidence(finding: Finding, now: datetime) -> tuple[datetime, datetime, datetime]:
    """When the condition started, when it was observed, and until when the observation stands.

    Most detectors judge every interval, so a finding speaks for its moment and ``for`` needs a second one. A
    window verdict (drift: ``details["holds_for_s"]``) already judged a whole window with statistical control:
    it speaks for that window, and stands until the next window's verdict is due. Its observation time is
    when this pass reads it if that is later (a verdict that changed once outcomes arrived), so it is not
    expired the moment it is read.
    """
    hold = finding.details.get("holds_for_s")
    if not isinstance(hold, int | float) or isinstance(hold, bool) or hold <= 0:
        return finding.window_end, finding.window_end, finding.window_end
    observed = max(finding.window_end, now)
    return finding.window_start, observed, observed + timedelta(seconds=float(hold))


def _observe_firing(session: Session, finding: Finding, options: LifecycleOptions, now: datetime) -> AlertRow:
    labels = finding_labels(finding)
    key = fingerprint(labels)
    since, at, held_until = _evidence(finding, now)
    url = evidence_url(options.external_url, finding.id)
    annotations = finding_annotations(finding, evidence_url=url, runbook_url=_runbook(options.runbook_url, labels))
    row = session.scalars(select(AlertRow).where(AlertRow.fingerprint == key)).one_or_none()
    if row is None:
        row = AlertRow(fingerprint=key, labels=labels, annotations=annotations, state=PENDING, starts_at=since)
        row.pending_since = since
        session.add(row)
    elif row.state == RESOLVED:
        row.state, row.pending_since, row.starts_at = PENDING, since, since
    # last_firing_at is when the firing evidence stops standing; quiet stretches are counted from it.
    if row.last_firing_at is None or held_until >= row.last_firing_at:
        row.last_firing_at = held_until
        row.annotations = annotations
        row.last_finding_id = finding.id
    if (
        row.state == PENDING
        and row.pending_since is not None
        and at - row.pending_since >= timedelta(seconds=options.for_s)
    ):
        # A new firing episode: what was acknowledged about an earlier one no longer holds.
        row.state, row.starts_at, row.ends_at, row.pending_since = FIRING, at, None, None
        row.acked_by = row.acked_at = row.ack_comment = None
    return row


def _observe_quiet(session: Session, finding: Finding, active: Iterable[AlertRow]) -> None:
    # Quiet findings carry severity "info", so they are matched on every label but severity.
    condition = condition_key(finding_labels(finding))
    for row in active:
        quiet_after = row.last_firing_at is None or finding.window_end >= row.last_firing_at
        if row.state == PENDING and condition_key(row.labels) == condition and quiet_after:
            _clear_pending(session, row)


def apply_findings(session: Session, findings: Iterable[Finding], options: LifecycleOptions, now: datetime) -> None:
    """Move alerts through their lifecycle for each finding, in the order given, read at ``now``."""
    for finding in findings:
        if finding.firing:
            _observe_firing(session, finding, options, now)
            session.flush()
        else:
            _observe_quiet(session, finding, _active(session))
            session.flush()


def expire(session: Session, options: LifecycleOptions, now: datetime) -> None:
    """Resolve firing alerts, and drop pending ones, that no finding has fired for in ``keep_firing_for``."""
    quiet_since = now - timedelta(seconds=options.keep_firing_for_s)
    for row in _active(session):
        if row.last_firing_at is not None and row.last_firing_at > quiet_since:
            continue
        if row.state == FIRING:
            row.state, row.ends_at = RESOLVED, now
        else:
            _clear_pending(session, row)
    session.flush()


def follow_findings(session: Session, options: LifecycleOptions, now: datetime) -> int:
    """Apply every finding stored or changed since the last pass, then expire; returns how many were read.

    The cursor is the largest finding revision applied, kept in the database so a restart (or another
    replica) resumes where this pass stopped. A window evaluated again with the same verdict updates its
    finding in place and is not re-read; one whose verdict changed gets a new revision and is. On PostgreSQL
    a finding whose transaction commits after one with a larger revision can be passed over; that costs at
    most one interval, since a condition that still fires has a new finding every interval and resolution
    goes by time.
    """
    cursor = session.get(AlertCursorRow, FINDINGS_CURSOR)
    if cursor is None:
        cursor = AlertCursorRow(name=FINDINGS_CURSOR, position=0)
        session.add(cursor)
    read = 0
    while True:
        batch = findings_after(session, cursor.position, BATCH)
        if not batch:
            break
        apply_findings(session, batch, options, now)
        cursor.position = max(f.revision or 0 for f in batch)
        read += len(batch)
    expire(session, options, now)
    return read
