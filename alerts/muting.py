"""Silences and inhibition: which alerts are kept from notifications right now, and by what."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import InhibitRule
from alerts.model import DETECTOR_FAMILY, Matcher, Silence, detector_family, matches_all
from collector.core.storage.alert_tables import SilenceRow


def silence_from_row(row: SilenceRow) -> Silence:
    """A stored silence as its domain record; an expired one ends when it was expired."""
    ends_at = min(row.ends_at, row.expired_at) if row.expired_at is not None else row.ends_at
    return Silence(
        id=row.id,
        matchers=tuple(Matcher.from_json(raw) for raw in row.matchers),
        starts_at=row.starts_at,
        ends_at=ends_at,
        created_by=row.created_by,
        comment=row.comment,
    )


def active_silences(session: Session, now: datetime) -> list[Silence]:
    """Silences in force at ``now``."""
    query = select(SilenceRow).where(SilenceRow.starts_at <= now, SilenceRow.ends_at > now)
    return [s for s in (silence_from_row(row) for row in session.scalars(query)) if s.active(now)]


def silenced_by(labels: Mapping[str, str], silences: Sequence[Silence]) -> tuple[str, ...]:
    """Ids of the silences whose matchers all hold for these labels."""
    return tuple(silence.id for silence in silences if matches_all(silence.matchers, labels))


@dataclass(frozen=True)
class FiringAlert:
    """What inhibition needs to know of a firing alert."""

    fingerprint: str
    labels: Mapping[str, str]


def inhibition_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels inhibit rules see: the alert's own, plus its ``detector_family`` (unless it has one)."""
    return {DETECTOR_FAMILY: detector_family(labels.get("detector", "")), **labels}


def inhibited_by(target: FiringAlert, firing: Sequence[FiringAlert], rules: Sequence[InhibitRule]) -> tuple[str, ...]:
    """Fingerprints of firing alerts that mute ``target`` under some rule.

    As in Alertmanager: a missing label equals an empty one, an alert never inhibits itself, and a source
    that is itself silenced still inhibits.
    """
    sources: list[str] = []
    target_labels = inhibition_labels(target.labels)
    for rule in rules:
        if not matches_all(rule.target_matchers, target_labels):
            continue
        for source in firing:
            if source.fingerprint == target.fingerprint or source.fingerprint in sources:
                continue
            source_labels = inhibition_labels(source.labels)
            if not matches_all(rule.source_matchers, source_labels):
                continue
            if all(source_labels.get(name, "") == target_labels.get(name, "") for name in rule.equal):
                sources.append(source.fingerprint)
    return tuple(sources)
