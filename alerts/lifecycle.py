"""The alert state machine: findings in, alerts pending, firing and resolved out.

A firing finding opens an alert (pending), which fires once the condition has held for ``for``, measured on
the findings' own window ends so replaying them gives the same answer. A firing alert resolves only after
no finding has fired for ``keep_firing_for`` (hysteresis): a detector that flaps between firing and quiet
keeps one alert firing instead of paging on every flip. A quiet finding drops a pending alert at once.

Quiet time is counted from when the next verdict was due, not from the end of the window the last one
judged: a one-minute window's finding is stored 30 s (the settle time) up to a detector interval after
the window ends, and read up to an evaluation interval later, so counting from the window's end resolved
an alert at ``keep_firing_for = 1m`` before the next minute's verdict could arrive, and it fired again
when that verdict came.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.model import (
    FIRING,
    PENDING,
    RESOLVED,
    condition_key,
    finding_annotations,
    finding_labels,
    fingerprint,
    window_text,
)
from collector.core.domain import Finding
from collector.core.findings import findings_after
from collector.core.storage.alert_tables import AlertCursorRow, AlertRow
from collector.core.storage.tables import FindingRow

FINDINGS_CURSOR: Final = "findings"
BATCH: Final = 1000
# How often the detectors judge an interval (the scheduler's default interval); the composition root passes
# the configured one.
DEFAULT_VERDICT_INTERVAL_S: Final = 60.0


@dataclass(frozen=True)
class LifecycleOptions:
    """The timing of the lifecycle and what the annotations link to.

    ``verdict_interval_s`` is how often a detector that judges every interval stores its next verdict, and
    ``evaluation_interval_s`` how late after that this engine may read it: together, when the next verdict is
    due after one is read.
    """

    for_s: float = 60.0
    keep_firing_for_s: float = 300.0
    external_url: str = ""
    runbook_url: str = ""
    verdict_interval_s: float = DEFAULT_VERDICT_INTERVAL_S
    evaluation_interval_s: float = 10.0


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


def _evidence(finding: Finding, now: datetime, options: LifecycleOptions) -> tuple[datetime, datetime, datetime]:
    """When the condition started, when it was observed, and until when the observation stands.

    Most detectors judge every interval, so a finding speaks for its moment and ``for`` needs a second one;
    it stands until the next interval's verdict is due: one verdict interval after this pass read it, plus
    one evaluation interval for this engine to read that one. A window verdict (drift:
    ``details["holds_for_s"]``) already judged a whole window with statistical control: it speaks for that
    window, and stands until the next window's verdict is due. Observation times are when this pass reads
    the finding if that is later (a verdict that changed once outcomes arrived), so nothing is expired the
    moment it is read.
    """
    observed = max(finding.window_end, now)
    hold = finding.details.get("holds_for_s")
    if not isinstance(hold, int | float) or isinstance(hold, bool) or hold <= 0:
        due = observed + timedelta(seconds=options.verdict_interval_s + options.evaluation_interval_s)
        return finding.window_end, finding.window_end, due
    return finding.window_start, observed, observed + timedelta(seconds=float(hold))


def _observe_firing(session: Session, finding: Finding, options: LifecycleOptions, now: datetime) -> AlertRow:
    labels = finding_labels(finding)
    key = fingerprint(labels)
    since, at, held_until = _evidence(finding, now, options)
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
    # The text and the evidence link follow the newest window, not the last one read: an older window whose
    # verdict changed is read later, but does not describe the condition now.
    latest = _last_firing_window_end(session, row) if row.last_finding_id != finding.id else None
    if latest is None or finding.window_end >= latest:
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


def _last_firing_window_end(session: Session, row: AlertRow) -> datetime | None:
    """The end of the window the alert's latest firing finding judged (None when that finding is gone)."""
    if row.last_finding_id is None:
        return None
    return session.scalar(select(FindingRow.window_end).where(FindingRow.id == row.last_finding_id))


def _observe_quiet(session: Session, finding: Finding, active: Iterable[AlertRow]) -> None:
    # Quiet findings carry severity "info", so they are matched on every label but severity.
    condition = condition_key(finding_labels(finding))
    for row in active:
        if row.state != PENDING or condition_key(row.labels) != condition:
            continue
        # A quiet verdict on a window no older than the one that fired: the condition went away.
        fired_until = _last_firing_window_end(session, row)
        if fired_until is None or finding.window_end >= fired_until:
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


def _latest_quiet(session: Session, row: AlertRow, after: datetime | None) -> FindingRow | None:
    """The newest quiet finding on the alert's condition judging a window that ended at or after ``after``."""
    labels = row.labels
    query = select(FindingRow).where(
        FindingRow.detector == labels.get("detector", ""),
        FindingRow.model_name == labels.get("model", ""),
        FindingRow.model_version == labels.get("version", ""),
        FindingRow.subject == labels.get("subject", ""),
        FindingRow.firing.is_(False),
    )
    if after is not None:
        query = query.where(FindingRow.window_end >= after)
    return session.scalars(query.order_by(FindingRow.window_end.desc()).limit(1)).first()


def resolution(session: Session, row: AlertRow, options: LifecycleOptions) -> str:
    """Why a firing alert resolves, in on-call's words: traffic stopped, the detector judged it normal, or no
    verdict came at all (a latency or cost detector with no traffic has nothing to judge)."""
    fired_until = _last_firing_window_end(session, row)
    quiet = _latest_quiet(session, row, fired_until)
    if quiet is not None:
        window = window_text(quiet.window_start, quiet.window_end)
        if quiet.details.get("enough_data") is False:
            return f"traffic stopped: {quiet.summary} ({window})"
        return f"back to normal: {quiet.summary} ({window})"
    since = f" since the window ending {fired_until.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if fired_until else ""
    return (
        f"no firing verdict{since} for keep_firing_for ({options.keep_firing_for_s:g} s) and no quiet one either: "
        "the detector had nothing to judge (did traffic stop?)"
    )


def expire(session: Session, options: LifecycleOptions, now: datetime) -> None:
    """Resolve firing alerts, and drop pending ones, that no finding has fired for in ``keep_firing_for``.

    A resolved alert says why in its ``resolution`` annotation and at the head of its summary, so the resolved
    notification does not repeat the firing text ("3 of 20 features drifted") for a condition that ended.
    """
    quiet_since = now - timedelta(seconds=options.keep_firing_for_s)
    for row in _active(session):
        if row.last_firing_at is not None and row.last_firing_at > quiet_since:
            continue
        if row.state == FIRING:
            row.state, row.ends_at = RESOLVED, now
            why = resolution(session, row, options)
            summary = row.annotations.get("summary", "")
            row.annotations = {
                **row.annotations,
                "resolution": why,
                "summary": f"resolved, {why}; while firing: {summary}",
            }
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
