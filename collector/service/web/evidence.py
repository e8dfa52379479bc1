"""What a finding page shows besides the finding: drift histograms, or the detector's recent series.

For a drift finding, each feature (or output) of the model version's reference is drawn against the window
the finding judged, from the interval summaries the drift detector stored on the reference's bins. For every
other detector, the findings of the same detector, model, version and subject before this one give the
series of actual values against what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.domain import Finding
from collector.core.storage.tables import DriftReferenceRow, DriftSummaryRow, FindingRow
from collector.service.web.charts import Line, category_shares, histogram_chart, shares, time_chart
from detectors.drift.records import load_predictions
from detectors.drift.reference import FittedReference, WindowSummary
from detectors.drift.store import DEFAULT_REFERENCE
from detectors.drift.summaries import CategoricalSummary, NumericSummary, Summary

# How many earlier windows of the same condition the series shows.
HISTORY: Final = 60
# Reference summaries have 100 quantile bins; drawn as this many, each the sum of neighbours.
DRAWN_BINS: Final = 20
DISTRIBUTION_DETECTORS: Final = ("drift.data", "drift.prediction")
NANOS: Final = 1_000_000_000
# Past this many predictions in a window, an even sample of them is drawn (as the detector samples an interval).
MAX_WINDOW_ROWS: Final = 200_000


@dataclass(frozen=True)
class Histogram:
    """One feature's reference against current chart."""

    feature: str
    chart: Markup


def _regroup(summary: NumericSummary, reference: NumericSummary) -> tuple[list[str], list[int], list[int]]:
    """Neighbouring bins summed into about ``DRAWN_BINS``, labelled by their lower edge."""
    size = max(1, len(reference.counts) // DRAWN_BINS)
    labels, ref, cur = [], [], []
    for start in range(0, len(reference.counts), size):
        labels.append("< " + f"{reference.edges[0]:.3g}" if start == 0 else f"{reference.edges[start - 1]:.3g}")
        ref.append(sum(reference.counts[start : start + size]))
        cur.append(sum(summary.counts[start : start + size]))
    return labels, ref, cur


def _histogram(name: str, reference: Summary, current: Summary) -> Histogram | None:
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        labels, ref, cur = _regroup(current, reference)
        return Histogram(name, histogram_chart(name, labels, shares(ref), shares(cur)))
    if isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        ref_counts = {**reference.counts, **({"(other)": reference.other} if reference.other else {})}
        cur_counts = {**current.counts, **({"(other)": current.other} if current.other else {})}
        labels, ref_shares, cur_shares = category_shares(ref_counts, cur_counts)
        return Histogram(name, histogram_chart(name, labels, ref_shares, cur_shares))
    return None


def _reference(engine: Engine, finding: Finding) -> tuple[int, FittedReference] | None:
    """The model version's default reference (its id and fitted body), or None when it is gone or unreadable."""
    with Session(engine) as session:
        row = session.scalars(
            select(DriftReferenceRow).where(
                DriftReferenceRow.model_name == finding.model_name,
                DriftReferenceRow.model_version == finding.model_version,
                DriftReferenceRow.name == DEFAULT_REFERENCE,
            )
        ).one_or_none()
        if row is None:
            return None
        try:
            return row.id, FittedReference.from_bytes(row.fitted)
        except ValueError:
            return None


def _stored_window(
    engine: Engine, reference_id: int, fitted: FittedReference, start_s: int, end_s: int
) -> WindowSummary | None:
    """The window merged from the interval summaries the detector stored, when they cover it whole."""
    inside = (
        DriftSummaryRow.reference_id == reference_id,
        DriftSummaryRow.bucket_start_unix_s >= start_s,
        DriftSummaryRow.bucket_start_unix_s < end_s,
    )
    with Session(engine) as session:
        # The detector's interval length is its configuration; the stored rows say which one it used.
        bucket_s = session.scalar(select(func.min(DriftSummaryRow.bucket_s)).where(*inside))
        if bucket_s is None:
            return None
        blobs = session.scalars(
            select(DriftSummaryRow.summary).where(*inside, DriftSummaryRow.bucket_s == bucket_s)
        ).all()
    if len(blobs) < (end_s - start_s) // bucket_s:
        return None
    merged = fitted.summarise({}, {}, 0)
    for blob in blobs:
        merged = merged.merge(fitted.window_from_json(blob))
    return merged


def _window(engine: Engine, finding: Finding) -> tuple[FittedReference, WindowSummary] | None:
    """The reference and the judged window: from the stored interval summaries, or, where some were forgotten
    (late predictions, see detectors.drift.late), summarised again from the predictions as the detector would."""
    loaded = _reference(engine, finding)
    if loaded is None:
        return None
    reference_id, fitted = loaded
    start_s, end_s = int(finding.window_start.timestamp()), int(finding.window_end.timestamp())
    stored = _stored_window(engine, reference_id, fitted, start_s, end_s)
    if stored is not None:
        return fitted, stored
    columns = load_predictions(
        engine,
        finding.model_name,
        finding.model_version,
        start_s * NANOS,
        end_s * NANOS,
        max_rows=MAX_WINDOW_ROWS,
    )
    return fitted, fitted.summarise(columns.features, columns.outputs, columns.rows)


def drift_histograms(engine: Engine, finding: Finding) -> list[Histogram]:
    """Reference against current per feature (data drift) or output (prediction drift); drifted ones first."""
    if finding.detector not in DISTRIBUTION_DETECTORS:
        return []
    loaded = _window(engine, finding)
    if loaded is None:
        return []
    fitted, current = loaded
    pairs = (
        (fitted.features, current.features) if finding.detector == "drift.data" else (fitted.outputs, current.outputs)
    )
    report = finding.details.get("report") or {}
    drifted = [str(name) for name in report.get("drifted_features", [])]
    order = [name for name in drifted if name in pairs[0]] + [name for name in pairs[0] if name not in drifted]
    charts = [_histogram(name, pairs[0][name], pairs[1][name]) for name in order if name in pairs[1]]
    return [chart for chart in charts if chart is not None]


def history_chart(engine: Engine, finding: Finding) -> Markup | None:
    """Actual against expected (and the band's top) over this condition's recent windows; None for drift."""
    if finding.detector.startswith("drift.") or finding.value is None:
        return None
    query = (
        select(FindingRow.window_end, FindingRow.value, FindingRow.expected, FindingRow.band_high)
        .where(
            FindingRow.detector == finding.detector,
            FindingRow.model_name == finding.model_name,
            FindingRow.model_version == finding.model_version,
            FindingRow.subject == finding.subject,
            FindingRow.window_end <= finding.window_end,
        )
        .order_by(FindingRow.window_end.desc())
        .limit(HISTORY)
    )
    with Session(engine) as session:
        rows = list(reversed(session.execute(query).all()))
    times = [int(row.window_end.timestamp()) for row in rows]
    lines = [Line("actual", [row.value for row in rows])]
    if any(row.expected is not None for row in rows):
        lines.append(Line("expected", [row.expected for row in rows], dashed=True))
    if any(row.band_high is not None for row in rows):
        lines.append(Line("band top", [row.band_high for row in rows], dashed=True))
    title = f"{finding.detector} {finding.subject}".strip()
    return time_chart(f"{title}: actual and expected per window", times, lines)
