"""A self-contained HTML report of a shadow run: inline SVG charts, no scripts, nothing fetched."""

from __future__ import annotations

import math
from html import escape
from typing import Final

from shadow.result import ShadowResult, VariantResult

_WIDTH: Final = 640
_ROW: Final = 28
_LEFT: Final = 150
_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}.switch{color:#176f2c}.keep{color:#8a4b00}"
)


def _x(value: float, top: float) -> float:
    """A value's x coordinate on a chart whose axis runs from 0 to ``top``."""
    return _LEFT + (_WIDTH - _LEFT - 20) * (value / top if top > 0 else 0)


def latency_chart(results: tuple[VariantResult, ...]) -> str:
    """Box plots of batch-1 latency (5th-95th whiskers, quartile box, median line) per model."""
    rows = [r for r in results if len(r.measurement.latency_quantiles_ms) == 21]
    if not rows:
        return "<p>No latencies were measured.</p>"
    top = max(r.measurement.latency_quantiles_ms[19] for r in rows) * 1.1
    height = _ROW * len(rows) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">']
    for i, r in enumerate(rows):
        q = r.measurement.latency_quantiles_ms
        y = 10 + i * _ROW
        p5, p25, p50, p75, p95 = (_x(q[k], top) for k in (1, 5, 10, 15, 19))
        parts += [
            f'<text x="0" y="{y + 14}" font-size="12">{escape(r.key)}</text>',
            f'<line x1="{p5:.1f}" x2="{p95:.1f}" y1="{y + 10}" y2="{y + 10}" stroke="#555"/>',
            f'<rect x="{p25:.1f}" y="{y + 2}" width="{max(p75 - p25, 1):.1f}" height="16" fill="#9ecae1"'
            ' stroke="#555"/>',
            f'<line x1="{p50:.1f}" x2="{p50:.1f}" y1="{y}" y2="{y + 20}" stroke="#08306b" stroke-width="2"/>',
            f"<title>{escape(r.key)}: p50 {q[10]:.4f} ms, p95 {q[19]:.4f} ms</title>",
        ]
    axis_y = height - 6
    parts.append(f'<text x="{_LEFT}" y="{axis_y}" font-size="11">0 ms</text>')
    parts.append(f'<text x="{_WIDTH - 90}" y="{axis_y}" font-size="11">{top:.4f} ms</text></svg>')
    return "".join(parts)


def agreement_chart(result: ShadowResult) -> str:
    """Agreement per variant as a bar, its lower bound as a tick, the margin as a dashed line (axis 90-100%)."""
    rows = [r for r in result.variants if r.comparison is not None and r.comparison.agreement is not None]
    if not rows:
        return "<p>No agreement to chart (regression task, or no variant ran).</p>"
    floor = 0.9

    def x(rate: float) -> float:
        return _x(max(rate - floor, 0.0), 1 - floor)

    height = _ROW * len(rows) + 30
    margin = x(result.margins.min_agreement_lower_bound)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">']
    for i, r in enumerate(rows):
        agreement = r.comparison.agreement if r.comparison else None
        assert agreement is not None
        y = 10 + i * _ROW
        parts += [
            f'<text x="0" y="{y + 14}" font-size="12">{escape(r.key)}</text>',
            f'<rect x="{_LEFT}" y="{y + 2}" width="{x(agreement.rate) - _LEFT:.1f}" height="16" fill="#a1d99b"/>',
            f'<line x1="{x(agreement.lower):.1f}" x2="{x(agreement.lower):.1f}" y1="{y}" y2="{y + 20}" stroke="#00441b"'
            ' stroke-width="3"/>',
            f"<title>{escape(r.key)}: {agreement.rate:.2%} (lower bound {agreement.lower:.2%})</title>",
        ]
    parts.append(
        f'<line x1="{margin:.1f}" x2="{margin:.1f}" y1="0" y2="{height - 20}" stroke="#b30000" stroke-dasharray="4"/>'
    )
    parts.append(f'<text x="{_LEFT}" y="{height - 6}" font-size="11">{floor:.0%}</text>')
    parts.append(f'<text x="{_WIDTH - 60}" y="{height - 6}" font-size="11">100%</text></svg>')
    return "".join(parts)


def _table(result: ShadowResult) -> str:
    """The per-model numbers."""
    head = "<tr><th>model</th><th>provider</th><th>p50 ms</th><th>p99 ms</th><th>rows/s</th><th>batch</th>"
    head += "<th>peak MiB</th><th>size KiB</th><th>decision</th></tr>"
    rows = []
    for r in result.results:
        m = r.measurement
        memory = f"{m.peak_memory_bytes / 2**20:.1f}" if m.peak_memory_bytes is not None else "–"
        decision = (
            "baseline"
            if r.verdict is None
            else r.verdict.decision + (f" ({r.verdict.keep_reason})" if r.verdict.keep_reason else "")
        )
        rows.append(
            f"<tr><td>{escape(r.key)}</td><td>{escape(m.execution_provider)}</td><td>{m.p50_ms:.4f}</td>"
            f"<td>{m.p99_ms:.4f}</td><td>{m.throughput_rps:,.0f}</td><td>{m.throughput_batch}</td><td>{memory}</td>"
            f"<td>{m.size_bytes / 1024:.0f}</td><td>{escape(decision)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _bound(value: float) -> str:
    """A bound for the tables: infinite ones (too few samples to bound anything) as the symbol."""
    return "∞" if value == float("inf") else f"{value:.3f}"


def _verdict_table(result: ShadowResult) -> str:
    """Per variant: the quality bound against its margin, the latency and throughput ratio bounds, the decision."""
    margins = result.margins
    head = (
        "<tr><th>variant</th><th>quality bound</th><th>margin</th><th>quality</th><th>latency ratio (bounds)</th>"
        "<th>throughput ratio (bounds)</th><th>cost per 1k (baseline → variant)</th><th>decision</th></tr>"
    )
    rows = []
    for r in result.variants:
        verdict, comparison = r.verdict, r.comparison
        if verdict is None or comparison is None:
            continue
        if comparison.regression is not None:
            reg = comparison.regression
            bound = f"MAE/std ≤ {reg.normalized(reg.mae_upper):.2%}"
            margin = f"≤ {margins.max_regression_error:.2%}"
        elif comparison.agreement is not None:
            bound = f"agreement ≥ {comparison.agreement.lower:.2%}"
            margin = f"≥ {margins.min_agreement_lower_bound:.2%}"
            if comparison.accuracy is not None:
                bound += f"; accuracy loss ≤ {comparison.accuracy.loss_upper * 100:.2f} pts"
                margin += f"; ≤ {margins.max_accuracy_loss_points:.2f} pts"
        else:
            bound = margin = "–"
        gain = verdict.latency
        latency = f"{gain.ratio:.3f} ({_bound(gain.ratio_lower)}..{_bound(gain.ratio_upper)})" if gain else "–"
        ratio = verdict.cost.throughput if verdict.cost else None
        throughput = f"{ratio.ratio:.3f} ({_bound(ratio.lower)}..{_bound(ratio.upper)})" if ratio else "–"
        cost = f"${verdict.cost.baseline_per_1k:.3g} → ${verdict.cost.variant_per_1k:.3g}" if verdict.cost else "–"
        decision = verdict.decision + (f" ({verdict.keep_reason})" if verdict.keep_reason else "")
        rows.append(
            f"<tr><td>{escape(r.key)}</td><td>{escape(bound)}</td><td>{escape(margin)}</td><td>{verdict.quality}</td>"
            f"<td>{latency}</td><td>{throughput}</td><td>{escape(cost)}</td><td>{escape(decision)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>" if rows else "<p>No variant was judged.</p>"


def _curve_table(result: ShadowResult) -> str:
    """Per model and hardware class: p50 per call, rows per second and cost per 1k predictions at each batch."""
    head = "<tr><th>model</th><th>hardware</th><th>batch</th><th>p50 ms/call</th><th>rows/s</th><th>$ per 1k</th></tr>"
    rows = []
    for r in result.results:
        for point in r.measurement.batch_curve:
            cost = f"{point.cost_per_1k_usd:.3g}" if point.cost_per_1k_usd is not None else "no price"
            rows.append(
                f"<tr><td>{escape(r.key)}</td><td>{escape(r.measurement.hardware_class)}</td><td>{point.batch}</td>"
                f"<td>{point.p50_ms:.4f}</td><td>{point.rows_per_s:,.0f}</td><td>{escape(cost)}</td></tr>"
            )
    return f"<table>{head}{''.join(rows)}</table>" if rows else "<p>No batch curve was measured.</p>"


def batch_curve_chart(results: tuple[VariantResult, ...]) -> str:
    """Rows per second against batch size (both axes log2), one line per model."""
    rows = [r for r in results if len(r.measurement.batch_curve) > 1]
    if not rows:
        return "<p>No batch curve to chart (batch 1 only).</p>"
    points = [p for r in rows for p in r.measurement.batch_curve]
    top_batch = max(math.log2(p.batch) for p in points) or 1.0
    low = min(math.log10(p.rows_per_s) for p in points)
    high = max(math.log10(p.rows_per_s) for p in points)
    span = (high - low) or 1.0
    height = 220
    colours = ("#08306b", "#b30000", "#176f2c", "#8a4b00", "#54278f", "#636363")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height + 40 + 16 * len(rows)}" role="img">'
    ]
    for i, r in enumerate(rows):
        colour = colours[i % len(colours)]
        xy = [
            (_x(math.log2(p.batch), top_batch), 10 + height * (1 - (math.log10(p.rows_per_s) - low) / span))
            for p in r.measurement.batch_curve
        ]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            + f'"><title>{escape(r.key)}</title></polyline>'
        )
        parts.append(f'<text x="0" y="{height + 50 + 16 * i}" font-size="12" fill="{colour}">{escape(r.key)}</text>')
    parts.append(f'<text x="{_LEFT}" y="{height + 30}" font-size="11">batch 1</text>')
    parts.append(f'<text x="{_WIDTH - 90}" y="{height + 30}" font-size="11">batch {2**top_batch:.0f}</text>')
    parts.append(f'<text x="0" y="16" font-size="11">{10**high:,.0f} rows/s</text>')
    parts.append(f'<text x="0" y="{height + 10}" font-size="11">{10**low:,.0f} rows/s</text></svg>')
    return "".join(parts)


def render_html(result: ShadowResult, title: str = "inferwatch shadow run") -> str:
    """The whole report as one HTML document."""
    rec = result.recommendation
    verdict = rec.headline or (
        f"switch to {rec.variant}" if rec.decision == "switch" else f"keep the baseline ({rec.keep_reason})"
    )
    failures = "".join(f"<li>{escape(f.name)}: {escape(f.error)}</li>" for f in result.failures)
    env = ", ".join(f"{escape(k)}: {escape(v)}" for k, v in result.environment.items())
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f'<h2 class="{rec.decision}">{escape(verdict)}</h2><pre>{escape(rec.explanation)}</pre>'
        f"<p>{result.requests_replayed} of {result.requests_available} recorded requests replayed "
        f"({result.calibration_requests} held out for calibration), {result.looks_taken} of {result.looks_planned} "
        f"looks{', stopped early' if result.stopped_early else ''}; each bound at "
        f"{result.confidence_per_bound:.4f} confidence. Task: {escape(result.task)}.</p>"
        f"<h2>Latency at batch 1</h2>{latency_chart(result.results)}"
        f"<h2>Agreement with the baseline</h2>{agreement_chart(result)}"
        f"<h2>Verdicts: bounds against margins</h2>{_verdict_table(result)}"
        f"<h2>Measurements</h2>{_table(result)}"
        f"<h2>Batch curves</h2>{batch_curve_chart(result.results)}{_curve_table(result)}"
        + (f"<h2>Variants not built</h2><ul>{failures}</ul>" if failures else "")
        + f"<p><small>{env}</small></p></body></html>"
    )
