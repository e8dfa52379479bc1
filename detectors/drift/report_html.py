"""A self-contained HTML report of ``drift check``: the verdict, per-feature charts and statistics.

Like the shadow report: inline SVG, no scripts, nothing fetched, so the file can be attached to a CI run or
mailed and still opens. Features are shown drifted first, largest effect first, then the rest in column order.
Each numeric feature gets the reference's and the current's share per bin on shared bins (the reference's
0.5th to 99.5th percentiles, cut in 30, outer values in the end bins); each categorical one the shares of its
most common values on both sides, the rest as "(other)" and values the reference never saw as "(unseen)".
"""

from __future__ import annotations

import math
from html import escape
from typing import Final

import numpy as np

from detectors.drift.base import DriftDetector
from detectors.drift.columns import CategoricalColumn, NumericColumn, Table
from detectors.drift.results import DriftReport, FeatureDrift

_WIDTH: Final = 640
_HEIGHT: Final = 150
_LEFT: Final = 40
_BINS: Final = 30
_TOP_VALUES: Final = 12
_REFERENCE_FILL: Final = "#9ecae1"
_CURRENT_LINE: Final = "#d95f0e"
_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:64em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
    ".drift{color:#b30000}.ok{color:#176f2c}.unjudged{color:#8a4b00}section{margin-bottom:2em}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#555}dd{margin:0}"
)
_HEADLINE: Final = {"drift": "DRIFT", "no_drift": "no drift", "not_enough_data": "NOT ENOUGH DATA"}
_CLASS: Final = {"drift": "drift", "no_drift": "ok", "not_enough_data": "unjudged"}


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


def numeric_shares(reference: NumericColumn, current: NumericColumn) -> tuple[list[float], list[float], float, float]:
    """Both sides' share per bin on the reference's bins, and the bins' outer edges."""
    finite = reference.values[np.isfinite(reference.values)]
    if finite.size == 0:
        return [], [], 0.0, 0.0
    low, high = (float(v) for v in np.quantile(finite, [0.005, 0.995]))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, _BINS + 1)

    def shares(values: np.ndarray) -> list[float]:
        kept = values[np.isfinite(values)]
        if kept.size == 0:
            return [0.0] * _BINS
        cells = np.clip(np.searchsorted(edges, kept, side="right") - 1, 0, _BINS - 1)
        counts = np.bincount(cells, minlength=_BINS)
        return [float(count) / kept.size for count in counts.tolist()]

    return shares(reference.values), shares(current.values), low, high


def categorical_shares(
    reference: CategoricalColumn, current: CategoricalColumn
) -> tuple[list[str], list[float], list[float]]:
    """The most common values over both sides, with "(other)" and "(unseen)" cells where they hold anything."""
    ref, cur = reference.as_dict(), current.as_dict()
    ref_total, cur_total = max(sum(ref.values()), 1), max(sum(cur.values()), 1)
    seen = sorted(ref, key=lambda key: -(ref[key] / ref_total + cur.get(key, 0) / cur_total))
    top = seen[:_TOP_VALUES]
    labels = list(top)
    ref_shares = [ref[key] / ref_total for key in top]
    cur_shares = [cur.get(key, 0) / cur_total for key in top]
    rest = seen[_TOP_VALUES:]
    if rest:
        labels.append("(other)")
        ref_shares.append(sum(ref[key] for key in rest) / ref_total)
        cur_shares.append(sum(cur.get(key, 0) for key in rest) / cur_total)
    unseen = sum(count for key, count in cur.items() if key not in ref)
    if unseen:
        labels.append("(unseen)")
        ref_shares.append(0.0)
        cur_shares.append(unseen / cur_total)
    return labels, ref_shares, cur_shares


def _legend(y: int) -> str:
    return (
        f'<rect x="{_WIDTH - 190}" y="{y - 9}" width="10" height="10" fill="{_REFERENCE_FILL}"/>'
        f'<text x="{_WIDTH - 176}" y="{y}" font-size="11">reference</text>'
        f'<rect x="{_WIDTH - 110}" y="{y - 9}" width="10" height="10" fill="none" stroke="{_CURRENT_LINE}"'
        ' stroke-width="2"/>'
        f'<text x="{_WIDTH - 96}" y="{y}" font-size="11">current</text>'
    )


def numeric_chart(name: str, reference: NumericColumn, current: NumericColumn) -> str:
    """Reference shares per bin as bars, the current's as a step line over them."""
    ref, cur, low, high = numeric_shares(reference, current)
    if not ref:
        return "<p>No finite reference values to chart.</p>"
    top = max(*ref, *cur, 1e-12) * 1.1
    plot = _HEIGHT - 30
    width = (_WIDTH - _LEFT - 10) / _BINS

    def y(share: float) -> float:
        return 12 + plot * (1 - share / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" role="img">',
        f"<title>{escape(name)}: share of values per bin, reference against current</title>",
    ]
    for i, share in enumerate(ref):
        x = _LEFT + i * width
        parts.append(
            f'<rect x="{x:.1f}" y="{y(share):.1f}" width="{max(width - 1, 1):.1f}" '
            f'height="{12 + plot - y(share):.1f}" fill="{_REFERENCE_FILL}"/>'
        )
    points = []
    for i, share in enumerate(cur):
        points += [f"{_LEFT + i * width:.1f},{y(share):.1f}", f"{_LEFT + (i + 1) * width:.1f},{y(share):.1f}"]
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{_CURRENT_LINE}" stroke-width="2"/>')
    parts += [
        f'<text x="{_LEFT}" y="{_HEIGHT - 4}" font-size="11">{escape(_number(low))}</text>',
        f'<text x="{_WIDTH - 60}" y="{_HEIGHT - 4}" font-size="11">{escape(_number(high))}</text>',
        f'<text x="0" y="20" font-size="11">{top / 1.1:.0%}</text>',
        _legend(12),
        "</svg>",
    ]
    return "".join(parts)


def categorical_chart(name: str, reference: CategoricalColumn, current: CategoricalColumn) -> str:
    """Paired horizontal bars per value: reference filled, current outlined."""
    labels, ref, cur = categorical_shares(reference, current)
    if not labels:
        return "<p>No values to chart.</p>"
    left, row = 150, 22
    height = row * len(labels) + 24
    top = max(*ref, *cur, 1e-12)

    def x(share: float) -> float:
        return left + (_WIDTH - left - 20) * share / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">',
        f"<title>{escape(name)}: share of each value, reference against current</title>",
        _legend(12),
    ]
    for i, (label, ref_share, cur_share) in enumerate(zip(labels, ref, cur, strict=True)):
        y = 20 + i * row
        shown = label if len(label) <= 22 else label[:21] + "…"
        parts += [
            f'<text x="0" y="{y + 13}" font-size="11">{escape(shown)}</text>',
            f'<rect x="{left}" y="{y + 2}" width="{x(ref_share) - left:.1f}" height="8" fill="{_REFERENCE_FILL}"/>',
            f'<rect x="{left}" y="{y + 10}" width="{max(x(cur_share) - left, 0.5):.1f}" height="8" fill="none" '
            f'stroke="{_CURRENT_LINE}" stroke-width="1.5"/>',
            f"<title>{escape(label)}: reference {ref_share:.1%}, current {cur_share:.1%}</title>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def _verdict(item: FeatureDrift) -> str:
    if not item.enough_data:
        return '<span class="unjudged">not enough data</span>'
    if not item.drifted:
        return '<span class="ok">no drift</span>'
    signals = [
        name for name, on in (("distribution", item.distribution_drifted), ("missing rate", item.missing.drifted)) if on
    ]
    if item.unseen is not None and item.unseen.drifted:
        signals.append("unseen values")
    return f'<span class="drift">drifted: {escape(", ".join(signals))}</span>'


def _details(item: FeatureDrift) -> str:
    rows = [
        ("typed as", item.typing or item.kind),
        ("method", item.method),
        ("statistic", _number(item.statistic)),
        ("p-value (adjusted)", f"{_number(item.p_value)} ({_number(item.p_value_adjusted)})"),
        (f"effect size ({item.effect_size_name})", _number(item.effect_size)),
        ("values (reference, current)", f"{item.reference_count:,}, {item.current_count:,}"),
        ("missing rate", f"{item.missing.reference_rate:.1%} → {item.missing.current_rate:.1%}"),
    ]
    if item.spread is not None:
        rows.append(("spread ratio (p-value)", f"{_number(item.spread.ratio)} ({_number(item.spread.p_value)})"))
    if item.unseen is not None:
        examples = ", ".join(item.unseen.examples)
        rows.append(
            (
                "unseen values",
                f"{item.unseen.share:.1%} of rows (expected {item.unseen.expected_share:.1%})"
                + (f": {examples}" if examples else ""),
            )
        )
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def _summary_table(order: list[FeatureDrift]) -> str:
    head = "<tr><th>feature</th><th>typed as</th><th>method</th><th>p adj</th><th>effect</th><th>verdict</th></tr>"
    rows = "".join(
        f'<tr><td><a href="#f{i}">{escape(item.feature)}</a></td><td>{escape(item.typing or item.kind)}</td>'
        f"<td>{escape(item.method)}</td><td>{_number(item.p_value_adjusted)}</td>"
        f"<td>{_number(item.effect_size)}</td><td>{_verdict(item)}</td></tr>"
        for i, item in enumerate(order)
    )
    return f"<table>{head}{rows}</table>"


def render_html(
    report: DriftReport, detector: DriftDetector, current: Table, title: str = "inferwatch drift check"
) -> str:
    """The whole report as one HTML document; ``detector`` is the fitted one that made ``report``."""
    order = [*report.drifted, *(item for item in report.features if not item.drifted)]
    sections = []
    for i, item in enumerate(order):
        if item.typing == "identifier":
            chart = "<p>An identifier (nearly every value distinct): its distribution is not charted or tested.</p>"
        else:
            reference_column = detector.reference_column(item.feature)
            current_column = detector.current_column(item.feature, current[item.feature])
            if isinstance(reference_column, NumericColumn) and isinstance(current_column, NumericColumn):
                chart = numeric_chart(item.feature, reference_column, current_column)
            elif isinstance(reference_column, CategoricalColumn) and isinstance(current_column, CategoricalColumn):
                chart = categorical_chart(item.feature, reference_column, current_column)
            else:
                chart = ""
        sections.append(
            f'<section id="f{i}"><h3>{escape(item.feature)} — {_verdict(item)}</h3>{chart}{_details(item)}</section>'
        )
    verdict = report.verdict
    headline = _HEADLINE[verdict]
    if verdict == "drift":
        headline += f": {len(report.drifted)} of {len(report.features)} features drifted"
        if report.joint is not None and report.joint.drifted:
            headline += ", and the numeric features' joint pattern changed"
    elif verdict == "not_enough_data":
        headline += f": {len(report.not_enough_data)} of {len(report.features)} features had too few values to judge"
    else:
        headline += f": 0 of {len(report.features)} features drifted"
    joint = "" if report.joint is None else f"<p>{escape(report.joint.describe())}</p>"
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f'<h2 class="{_CLASS[verdict]}">{escape(headline)}</h2>'
        f"<p>{report.reference_rows:,} reference rows, {report.current_rows:,} current rows; "
        f"{escape(report.detector)}, "
        f"{escape(report.correction)} correction at alpha {report.alpha}. Drifted features first, largest effect "
        "first. Charts: reference filled, current outlined.</p>"
        f"{_summary_table(order)}{joint}<h2>Features</h2>{''.join(sections)}</body></html>"
    )
