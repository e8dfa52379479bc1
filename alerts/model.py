"""The alert domain: labels, fingerprints, matchers, and the records the rest of the package passes around."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from collector.core.domain import Finding

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
# The identifying labels every alert has; `subject` is added when a finding is about part of a model.
IDENTITY_LABELS: Final = ("alertname", "model", "version", "detector", "severity")
ALERTNAMES: Final = {
    "latency": "ModelLatencyAnomaly",
    "slo.burn": "ModelSLOBurn",
    "drift.data": "ModelDataDrift",
    "drift.prediction": "ModelPredictionDrift",
    "drift.multivariate": "ModelMultivariateDrift",
    "drift.performance": "ModelPerformanceDrop",
    "drift.estimated_accuracy": "ModelEstimatedAccuracyDrop",
    "cost": "ModelCostAnomaly",
}


# A label every alert has for inhibition only (not stored, not sent): its detector up to the first dot.
DETECTOR_FAMILY: Final = "detector_family"


def detector_family(detector: str) -> str:
    """``drift.data`` -> ``drift``, ``slo.burn`` -> ``slo``, ``latency`` -> ``latency``."""
    return detector.split(".", 1)[0]


def alertname_for(detector: str) -> str:
    """``slo.burn`` -> ``ModelSLOBurn``; unknown detectors get ``Model`` and their name in CamelCase."""
    if detector in ALERTNAMES:
        return ALERTNAMES[detector]
    return "Model" + "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", detector) if part)


def finding_labels(finding: Finding) -> dict[str, str]:
    """The labels that identify the condition a finding reports."""
    labels = {
        "alertname": alertname_for(finding.detector),
        "model": finding.model_name,
        "version": finding.model_version,
        "detector": finding.detector,
        "severity": finding.severity,
    }
    if finding.subject:
        labels["subject"] = finding.subject
    # An empty label is no label in Prometheus and Alertmanager; leaving it out keeps fingerprints the same
    # whether a receiver drops it or not (an unversioned model, an SLO over every version).
    return {name: value for name, value in labels.items() if value}


def condition_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The labels without severity: a quiet finding (severity info) clears the alert of any severity."""
    return tuple(sorted((k, v) for k, v in labels.items() if k != "severity"))


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable hash of the labels: the same condition always has the same fingerprint (16 hex digits)."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


# Said when a detector records nothing to compare with, so the annotation is never blank.
NO_BASELINE: Final = "none recorded by the detector"


def window_text(start: datetime, end: datetime) -> str:
    """``2026-11-30 11:59:00 to 12:00:00 UTC``: the time range a finding judged."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    until = f"{end:%H:%M:%S}" if start.date() == end.date() else f"{end:%Y-%m-%d %H:%M:%S}"
    return f"{start:%Y-%m-%d %H:%M:%S} to {until} UTC"


def _baseline(finding: Finding) -> str:
    """What the value was compared with: the detector's words when it gives them, else its numbers."""
    described = finding.details.get("baseline")
    if isinstance(described, str) and described.strip():
        return described
    baseline = _number(finding.expected)
    if finding.band_low is not None and finding.band_high is not None:
        band = f"{_number(finding.band_low)}..{_number(finding.band_high)}"
        baseline = f"{baseline} (band {band})" if baseline else band
    return baseline or NO_BASELINE


def finding_annotations(finding: Finding, *, evidence_url: str, runbook_url: str) -> dict[str, str]:
    """What on-call reads: summary, value, baseline, the window judged, runbook and the link to the finding."""
    annotations = {
        "summary": finding.summary,
        "value": _number(finding.value),
        "baseline": _baseline(finding),
        "window": window_text(finding.window_start, finding.window_end),
        "window_start": finding.window_start.astimezone(UTC).isoformat(),
        "window_end": finding.window_end.astimezone(UTC).isoformat(),
        "evidence_url": evidence_url,
    }
    if runbook_url:
        annotations["runbook_url"] = runbook_url
    return annotations


_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    """Alertmanager's matcher on one label: ``=``, ``!=``, ``=~`` and ``!~``; regexes match the whole value."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("`name` of a matcher must not be empty")
        if self.is_regex:
            try:
                re.compile(self.value)
            except re.error as error:
                raise ValueError(f"invalid regular expression {self.value!r}: {error}") from None

    @classmethod
    def parse(cls, raw: str) -> Matcher:
        """``severity="critical"``, ``model=~"fraud.*"``, ``env!=dev``; quotes are optional."""
        found = _MATCHER.match(raw)
        if found is None:
            raise ValueError(f'expected a matcher like name="value", name!=value, name=~regex; got {raw!r}')
        name, operator, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        return cls(name, value, is_regex="~" in operator, is_equal=not operator.startswith("!"))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the labels satisfy this matcher; a missing label counts as the empty string."""
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual) is not None if self.is_regex else actual == self.value
        return hit if self.is_equal else not hit

    def __str__(self) -> str:
        operator = ("=" if self.is_equal else "!") + ("~" if self.is_regex else "")
        if operator == "!":
            operator = "!="
        return f'{self.name}{operator}"{self.value}"'

    def to_json(self) -> dict[str, object]:
        """The stored shape, as in Alertmanager's API."""
        return {"name": self.name, "value": self.value, "is_regex": self.is_regex, "is_equal": self.is_equal}

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> Matcher:
        """Inverse of ``to_json``."""
        return cls(str(raw["name"]), str(raw["value"]), bool(raw.get("is_regex")), bool(raw.get("is_equal", True)))


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    """Whether every matcher holds (an empty list matches everything)."""
    return all(matcher.matches(labels) for matcher in matchers)


@dataclass(frozen=True)
class Acknowledgement:
    """Who acknowledged an alert, when and why; acknowledged alerts are not repeated."""

    by: str
    at: datetime
    comment: str = ""


@dataclass(frozen=True)
class Delivery:
    """One entry of an alert's delivery log: one notification of it to one receiver."""

    sink: str
    status: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Inhibitor:
    """A firing alert that mutes another one, as shown next to the muted alert."""

    fingerprint: str
    alertname: str
    severity: str
    summary: str


@dataclass(frozen=True)
class Alert:
    """An alert and where it is in its lifecycle; ``silenced_by`` and ``inhibited_by`` are as of reading."""

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str
    starts_at: datetime
    ends_at: datetime | None = None
    updated_at: datetime | None = None
    finding_id: int | None = None
    acknowledgement: Acknowledgement | None = None
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    # The alerts behind ``inhibited_by``, in the same order, so a reader sees what mutes this one.
    inhibitors: tuple[Inhibitor, ...] = ()
    deliveries: tuple[Delivery, ...] = field(default=())

    @property
    def muted(self) -> bool:
        """Silenced or inhibited: kept and shown, but not notified."""
        return bool(self.silenced_by or self.inhibited_by)


@dataclass(frozen=True)
class Silence:
    """Alerts matching every matcher are not notified between ``starts_at`` and ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def status(self, now: datetime) -> str:
        """``pending`` before it starts, ``active`` while it holds, ``expired`` after."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def active(self, now: datetime) -> bool:
        """Whether it mutes matching alerts at ``now``."""
        return self.status(now) == "active"
