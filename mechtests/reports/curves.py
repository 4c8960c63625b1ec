"""Curve charts: a value against a numeric x on a log axis, every model of a hypothesis on shared
axes, each with its interval as a band (faithfulness by circuit size: mechtests.claims.figures.curve).

Self-contained SVG drawn with mechtests.reports.svg's helpers; every text escaped. The y-range
always holds 0 and 1 (the empty circuit and the model), and a dashed line marks 1.
"""

from __future__ import annotations

import math
from typing import Any

from mechtests.claims.figures import CURVE, ChartEntry, chart_of
from mechtests.reports.charts import PALETTE
from mechtests.reports.svg import esc, num, open_svg

WIDTH, PLOT_H = 420, 170
STEP = 0.25  # the y axis's ticks, for a range of at most 2
PAD_L, PAD_R, PAD_T, PAD_B = 46, 12, 40, 36


def curve_charts(hyp: dict[str, Any]) -> list[str]:
    """One chart per curve name of a hypothesis (results.json entry), its models on shared axes."""
    charts: dict[str, list[ChartEntry]] = {}
    for model, res in hyp["results"].items():
        for ev in res["evidence"]:
            found = chart_of(ev, model)
            if found is not None and found.kind == CURVE:
                charts.setdefault(found.chart, []).append(found)
    return [curve_chart(name, entries) for name, entries in charts.items()]


def _rows(entry: ChartEntry) -> list[tuple[float, float, float, float]]:
    """The entry's [x, value, lo, hi] rows with a positive x and finite numbers, by x."""
    rows = []
    for row in entry.entry["value"]:
        if len(row) >= 4 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in row[:4]) and row[0] > 0:
            rows.append(tuple(float(v) for v in row[:4]))
    return sorted(rows)


def curve_chart(title: str, entries: list[ChartEntry]) -> str:
    """Each series as a line through its points and a band between its interval's ends."""
    series = {c.series: _rows(c) for c in entries}
    points = [r for rows in series.values() for r in rows]
    xs = [r[0] for r in points] or [1.0, 100.0]
    x_lo, x_hi = math.log10(min(xs)), math.log10(max(xs))
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    low, high = min([0.0] + [r[2] for r in points]), max([1.0] + [r[3] for r in points])  # 0 and 1 always in
    step = STEP * math.ceil((high - low) / 2)  # at most about 8 ticks
    y_lo, y_hi = math.floor(low / step) * step, math.ceil(high / step) * step
    width = max(WIDTH, PAD_L + 8 * len(title))
    plot_w, height = width - PAD_L - PAD_R, PAD_T + PLOT_H + PAD_B
    x = lambda v: PAD_L + plot_w * (math.log10(v) - x_lo) / (x_hi - x_lo)  # noqa: E731
    y = lambda v: PAD_T + PLOT_H * (y_hi - v) / (y_hi - y_lo)  # noqa: E731
    parts = [open_svg(width, height, title, CURVE), f'<text x="{PAD_L}" y="16" class="t">{esc(title)}</text>']
    for v in (y_lo + i * step for i in range(round((y_hi - y_lo) / step) + 1)):
        style = 'class="axis"' if abs(v) < 1e-9 else 'class="grid" stroke-dasharray="6 3"' if abs(v - 1) < 1e-9 else 'class="grid"'
        parts.append(f'<line x1="{PAD_L}" x2="{width - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" {style}/>'
                     f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" class="l" text-anchor="end">{num(round(v, 6))}</text>')
    for tick in sorted({r[0] for r in points}):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{PAD_T}" y2="{PAD_T + PLOT_H}" class="grid"/>'
                     f'<text x="{x(tick):.1f}" y="{height - PAD_B + 16}" class="l" text-anchor="middle">{num(tick)}</text>')
    parts.append(f'<text x="{width - PAD_R}" y="{height - 4}" class="l" text-anchor="end">% of edges (log)</text>')
    for i, (name, rows) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        if not rows:
            continue
        band = [(x(r[0]), y(r[3])) for r in rows] + [(x(r[0]), y(r[2])) for r in reversed(rows)]
        parts.append(f'<polygon points="{_path(band)}" fill="{colour}" opacity="0.2" class="band"/>')
        parts.append(f'<polyline points="{_path([(x(r[0]), y(r[1])) for r in rows])}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, value, lo, hi in rows:
            parts.append(f'<circle cx="{x(px):.1f}" cy="{y(value):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{esc(name)} at {num(px)}%: {num(value)} [{num(lo)}, {num(hi)}]</title></circle>')
        lx = PAD_L + 90 * i
        parts.append(f'<circle cx="{lx + 6}" cy="29" r="4.5" fill="{colour}"/><text x="{lx + 14}" y="33" class="l">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)


__all__ = ["curve_chart", "curve_charts"]
