"""Charts as inline SVG, drawn on the server: no script, nothing fetched, readable at any width (viewBox).

Two kinds: time series (lines over time, an optional dashed threshold, a band) and paired histograms
(reference against current share per bin). Values that are None leave a gap in a line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Final

from markupsafe import Markup

WIDTH: Final = 720
HEIGHT: Final = 200
LEFT: Final = 56
RIGHT: Final = 12
TOP: Final = 12
BOTTOM: Final = 28
# Colour-blind-safe (Okabe-Ito), in the order series are drawn.
PALETTE: Final = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
REFERENCE_FILL: Final = "#9ecae1"
CURRENT_LINE: Final = "#d55e00"


@dataclass(frozen=True)
class Line:
    """One series: a name for the legend and a value (or a gap) per x."""

    name: str
    values: Sequence[float | None]
    dashed: bool = False


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3g}"


def _time_label(unix_s: int, span_s: int) -> str:
    moment = datetime.fromtimestamp(unix_s, tz=UTC)
    return moment.strftime("%H:%M" if span_s <= 2 * 86400 else "%m-%d")


def _legend(names: Sequence[tuple[str, str, bool]], y: float) -> list[str]:
    parts, x = [], float(LEFT)
    for name, colour, dashed in names:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(
            f'<line x1="{x:.0f}" x2="{x + 16:.0f}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{x + 20:.0f}" y="{y + 4}" font-size="11">{escape(name)}</text>')
        x += 28 + 7 * len(name)
    return parts


def time_chart(
    title: str,
    times: Sequence[int],
    lines: Sequence[Line],
    *,
    unit: str = "",
    threshold: tuple[str, float] | None = None,
) -> Markup:
    """Lines over ``times`` (unix seconds), with a dashed horizontal ``threshold`` (its name and value)."""
    finite = [v for line in lines for v in line.values if v is not None and math.isfinite(v)]
    if threshold is not None:
        finite.append(threshold[1])
    if not times or not finite:
        return Markup(f'<p class="empty">{escape(title)}: no data in this range.</p>')
    low = min([0.0, *finite])
    top = max(finite) * 1.1
    if top <= low:
        top = low + 1.0
    span = max(times[-1] - times[0], 1)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: int) -> float:
        return LEFT + inner_w * (t - times[0]) / span

    def y(v: float) -> float:
        return TOP + inner_h * (1 - (v - low) / (top - low))

    height = HEIGHT + 18
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(low):.1f}" y2="{y(low):.1f}" stroke="#999"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = low + (top - low) * fraction
        parts.append(
            f'<text x="{LEFT - 4}" y="{y(value) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_number(value)}{escape(unit)}</text>"
        )
    for t, anchor in ((times[0], "start"), (times[len(times) // 2], "middle"), (times[-1], "end")):
        parts.append(
            f'<text x="{x(t):.1f}" y="{HEIGHT - 10}" font-size="10" text-anchor="{anchor}">'
            f"{_time_label(t, span)} UTC</text>"
        )
    legend = []
    for index, line in enumerate(lines):
        colour = PALETTE[index % len(PALETTE)]
        legend.append((line.name, colour, line.dashed))
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        run: list[str] = []
        for t, point in zip(times, line.values, strict=False):
            if point is None or not math.isfinite(point):
                if run:
                    parts.append(_polyline(run, colour, dash))
                run = []
                continue
            run.append(f"{x(t):.1f},{y(point):.1f}")
        if run:
            parts.append(_polyline(run, colour, dash))
    if threshold is not None:
        name, value = threshold
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#b30000" '
            'stroke-dasharray="6 4"/>'
        )
        legend.append((name, "#b30000", True))
    parts += _legend(legend, HEIGHT + 8)
    parts.append("</svg>")
    return _figure(title, "".join(parts))


def _figure(title: str, svg: str) -> Markup:
    """The chart under its visible title."""
    return Markup(f'<figure class="chart-box"><figcaption>{escape(title)}</figcaption>{svg}</figure>')


def _polyline(points: list[str], colour: str, dash: str) -> str:
    if len(points) == 1:
        cx, cy = points[0].split(",")
        return f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>'
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{" ".join(points)}"/>'


def histogram_chart(title: str, labels: Sequence[str], reference: Sequence[float], current: Sequence[float]) -> Markup:
    """Reference shares as filled bars and current shares as outlined bars, bin by bin."""
    if not labels:
        return Markup(f'<p class="empty">{escape(title)}: nothing to draw.</p>')
    top = max([*reference, *current, 1e-9]) * 1.1
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / len(labels)
    height = HEIGHT + 18

    def y(share: float) -> float:
        return TOP + inner_h * (1 - share / top)

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT - 4}" y="{y(top / 1.1) + 4:.1f}" font-size="10" text-anchor="end">{top / 1.1:.0%}</text>',
        f'<text x="{LEFT - 4}" y="{y(0) + 4:.1f}" font-size="10" text-anchor="end">0%</text>',
    ]
    for index, (label, ref, cur) in enumerate(zip(labels, reference, current, strict=True)):
        left = LEFT + index * step
        parts.append(
            f'<rect x="{left + 1:.1f}" y="{y(ref):.1f}" width="{max(step - 2, 1):.1f}" height="{y(0) - y(ref):.1f}" '
            f'fill="{REFERENCE_FILL}"><title>{escape(label)}: reference {ref:.1%}, current {cur:.1%}</title></rect>'
        )
        parts.append(
            f'<rect x="{left + 1:.1f}" y="{y(cur):.1f}" width="{max(step - 2, 1):.1f}" height="{y(0) - y(cur):.1f}" '
            f'fill="none" stroke="{CURRENT_LINE}" stroke-width="1.5"/>'
        )
    shown = [0, len(labels) // 2, len(labels) - 1] if len(labels) > 12 else range(len(labels))
    for index in shown:
        parts.append(
            f'<text x="{LEFT + (index + 0.5) * step:.1f}" y="{HEIGHT - 10}" font-size="10" text-anchor="middle">'
            f"{escape(labels[index][:14])}</text>"
        )
    parts += _legend([("reference", REFERENCE_FILL, False), ("current", CURRENT_LINE, False)], HEIGHT + 8)
    parts.append("</svg>")
    return Markup("".join(parts))


def shares(counts: Sequence[int]) -> list[float]:
    """Counts as shares of their total (all zero when the total is)."""
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def category_shares(
    reference: Mapping[str, int], current: Mapping[str, int], top: int = 12
) -> tuple[list[str], list[float], list[float]]:
    """The ``top`` most common categories of both sides, the rest as "(other)"."""
    ref_total, cur_total = max(sum(reference.values()), 1), max(sum(current.values()), 1)
    keys = sorted(
        set(reference) | set(current), key=lambda k: -(reference.get(k, 0) / ref_total + current.get(k, 0) / cur_total)
    )
    labels = keys[:top]
    ref = [reference.get(k, 0) / ref_total for k in labels]
    cur = [current.get(k, 0) / cur_total for k in labels]
    if len(keys) > top:
        labels.append("(other)")
        ref.append(sum(reference.get(k, 0) for k in keys[top:]) / ref_total)
        cur.append(sum(current.get(k, 0) for k in keys[top:]) / cur_total)
    return labels, ref, cur
