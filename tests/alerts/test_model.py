"""The alert model's pure conversions: labels and annotations from findings, fingerprints, matchers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from alerts.model import NO_BASELINE, Matcher, alertname_for, finding_annotations, finding_labels, fingerprint
from tests.alerts.conftest import T0, finding


def test_labels_identify_the_condition() -> None:
    """alertname from the detector, then model, version, detector, severity and subject; empty ones left out."""
    labels = finding_labels(finding(T0, detector="slo.burn", severity="critical", subject="availability@99.9%"))
    assert labels == {
        "alertname": "ModelSLOBurn",
        "model": "fraud",
        "version": "3",
        "detector": "slo.burn",
        "severity": "critical",
        "subject": "availability@99.9%",
    }
    unversioned = replace(finding(T0, subject=""), model_version="")
    assert set(finding_labels(unversioned)) == {"alertname", "model", "detector", "severity"}
    assert alertname_for("drift.feature-psi") == "ModelDriftFeaturePsi"


def test_annotations_say_value_baseline_runbook_and_evidence() -> None:
    """What on-call reads, with the link to the finding."""
    annotations = finding_annotations(
        finding(T0), evidence_url="http://iw/api/v1/findings/9", runbook_url="https://rb/ModelLatencyAnomaly"
    )
    assert annotations == {
        "summary": "p99 latency of predict is 850 ms, expected 200 ms",
        "value": "850",
        "baseline": "200 (band 150..260)",
        "window": "2026-11-30 11:59:00 to 12:00:00 UTC",
        "window_start": "2026-11-30T11:59:00+00:00",
        "window_end": "2026-11-30T12:00:00+00:00",
        "evidence_url": "http://iw/api/v1/findings/9",
        "runbook_url": "https://rb/ModelLatencyAnomaly",
    }


def test_a_finding_without_numbers_still_has_a_baseline() -> None:
    """The detector's words when it gives them (drift: its reference), else a statement that it recorded none."""
    bare = replace(finding(T0), expected=None, band_low=None, band_high=None)
    assert finding_annotations(bare, evidence_url="", runbook_url="")["baseline"] == NO_BASELINE
    described = replace(bare, details={"baseline": "reference 'launch' (2,000 rows)"})
    assert (
        finding_annotations(described, evidence_url="", runbook_url="")["baseline"] == "reference 'launch' (2,000 rows)"
    )
    overnight = replace(bare, window_start=T0 - timedelta(hours=13), window_end=T0 - timedelta(hours=11))
    window = finding_annotations(overnight, evidence_url="", runbook_url="")["window"]
    assert window == "2026-11-29 23:00:00 to 2026-11-30 01:00:00 UTC"


def test_fingerprint_ignores_label_order_and_changes_with_any_value() -> None:
    """The same labels always give the same fingerprint; another value gives another."""
    labels = finding_labels(finding(T0))
    assert fingerprint(labels) == fingerprint(dict(reversed(list(labels.items()))))
    assert fingerprint(labels) != fingerprint({**labels, "severity": "critical"})
    assert len(fingerprint(labels)) == 16


names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True)
values = st.text(alphabet=st.characters(blacklist_characters='"', blacklist_categories=("Cs", "Cc")), max_size=12)


@given(name=names, value=values, is_equal=st.booleans())
def test_matcher_text_round_trips(name: str, value: str, is_equal: bool) -> None:
    """A matcher written out parses back to itself, and so does its stored form."""
    matcher = Matcher(name, value.strip(), is_regex=False, is_equal=is_equal)
    assert Matcher.parse(str(matcher)) == matcher
    assert Matcher.from_json(matcher.to_json()) == matcher
