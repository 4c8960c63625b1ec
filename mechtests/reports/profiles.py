"""Profiles over a numeric axis (a mask ratio, a denoising step) with another model as a reference line.

Drawn from the scalar estimates that `mechtests.claims.sweeps` marks: each series a line through
its points with their intervals as whiskers, in the order of x on a linear axis; each reference
(the ARM, which has no mask ratio) a dashed horizontal line across the chart over a band of its
interval. Self-contained SVG (no script, no external file); every text escaped.
"""

from __future__ import annotations

import math
from typing import Any

from mechtests.claims.figures import SERIES
from mechtests.claims.sweeps import AXIS, REFERENCE, SWEEP, SWEEP_X
from mechtests.reports.svg import esc, num, open_svg

COLOURS = ("#d9822b", "#4f9a4b", "#8e5ba8", "#b54a4a")  # the series; the reference is drawn in REFERENCE_COLOUR
REFERENCE_COLOUR = "#3b6fb6"
PAD_L, PAD_R, PAD_T, PAD_B, PLOT_W, PLOT_H = 52, 14, 40, 40, 300, 150


def profile_charts(hyp: dict[str, Any]) -> list[str]:
    """Every sweep chart of one hypothesis (results.json entry), in the order their names first appear."""
    charts: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for model, res in hyp["results"].items():
        for ev in res["evidence"]:
            extra = ev.get("extra") or {}
            if isinstance(extra.get(SWEEP), str) and isinstance(ev.get("value"), (int, float)) and math.isfinite(ev["value"]):
                charts.setdefault(extra[SWEEP], []).append((str(extra.get(SERIES, model)), ev))
    return [profile_chart(name, entries) for name, entries in charts.items()]


def profile_chart(title: str, entries: list[tuple[str, dict[str, Any]]]) -> str:
    """One chart: the series' points joined in x order, the references as lines across it."""
    points = [(s, ev) for s, ev in entries if not (ev.get("extra") or {}).get(REFERENCE)]
    references = [(s, ev) for s, ev in entries if (ev.get("extra") or {}).get(REFERENCE)]
    xs = [float(ev["extra"][SWEEP_X]) for _, ev in points] or [0.0, 1.0]
    x_lo, x_hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1.0
    y_lo, y_hi, step = _range([v for _, ev in entries for v in (ev["value"], *(ev.get("ci") or []))])
    width, height = PAD_L + PLOT_W + PAD_R, PAD_T + PLOT_H + PAD_B
    x = lambda v: PAD_L + PLOT_W * (v - x_lo) / (x_hi - x_lo)  # noqa: E731
    y = lambda v: PAD_T + PLOT_H * (y_hi - v) / (y_hi - y_lo)  # noqa: E731
    parts = [open_svg(width, height, title, "sweep"), f'<text x="{PAD_L}" y="16" class="t">{esc(title)}</text>']
    parts += _axes(x, y, sorted(set(xs)), (y_lo, y_hi, step), _axis_name(points))
    legend = []
    for label, ev in references:
        lo, hi = ev.get("ci") or (ev["value"], ev["value"])
        parts.append(f'<rect x="{PAD_L}" y="{y(hi):.1f}" width="{PLOT_W}" height="{max(y(lo) - y(hi), 1):.1f}" '
                     f'fill="{REFERENCE_COLOUR}" opacity="0.15"/>')
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + PLOT_W}" y1="{y(ev["value"]):.1f}" y2="{y(ev["value"]):.1f}" stroke="{REFERENCE_COLOUR}" '
                     f'stroke-width="2" stroke-dasharray="6 3"><title>{esc(label)}: {num(ev["value"])} [{num(lo)}, {num(hi)}]</title></line>')
        legend.append((f"{label} (reference)", REFERENCE_COLOUR))
    for i, label in enumerate(dict.fromkeys(s for s, _ in points)):
        colour = COLOURS[i % len(COLOURS)]
        mine = sorted((float(ev["extra"][SWEEP_X]), ev) for s, ev in points if s == label)
        line = " ".join(f"{x(px):.1f},{y(ev['value']):.1f}" for px, ev in mine)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, ev in mine:
            lo, hi = ev.get("ci") or (ev["value"], ev["value"])
            parts.append(f'<line x1="{x(px):.1f}" x2="{x(px):.1f}" y1="{y(hi):.1f}" y2="{y(lo):.1f}" stroke="{colour}" stroke-width="1.5"/>'
                         f'<circle cx="{x(px):.1f}" cy="{y(ev["value"]):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{esc(label)} at {num(px)}: {num(ev["value"])} [{num(lo)}, {num(hi)}]</title></circle>')
        legend.append((label, colour))
    parts.append(_legend(legend, PAD_L + 4, PAD_T - 8))
    parts.append("</svg>")
    return "".join(parts)


def _range(values: list[Any]) -> tuple[float, float, float]:
    """(lo, hi, step): the finite values' range widened to whole steps of 1, 2 or 5 x 10^k, about four of them."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    lo, hi = min(finite), max(finite)
    raw = (hi - lo or abs(hi) or 1.0) / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    return lo, (hi if hi > lo else lo + step), step


def _axis_name(points: list[tuple[str, dict[str, Any]]]) -> str:
    return next((str(ev["extra"][AXIS]) for _, ev in points if ev["extra"].get(AXIS)), "")


def _axes(x, y, ticks: list[float], y_range: tuple[float, float, float], name: str) -> list[str]:
    """The frame, the x ticks at the grid's values, a y tick at every step, and the axis's name."""
    lo, hi, step = y_range
    parts = [f'<line x1="{PAD_L}" x2="{PAD_L + PLOT_W}" y1="{y(lo):.1f}" y2="{y(lo):.1f}" class="axis"/>',
             f'<line x1="{PAD_L}" x2="{PAD_L}" y1="{y(hi):.1f}" y2="{y(lo):.1f}" class="axis"/>']
    for v in (lo + i * step for i in range(round((hi - lo) / step) + 1)):
        v = 0.0 if abs(v) < step * 1e-6 else v
        parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + PLOT_W}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" class="l" text-anchor="end">{num(v)}</text>')
    for t in ticks:
        parts.append(f'<text x="{x(t):.1f}" y="{y(lo) + 16:.1f}" class="l" text-anchor="middle">{num(t)}</text>')
    parts.append(f'<text x="{PAD_L + PLOT_W / 2:.1f}" y="{y(lo) + 33:.1f}" class="l" text-anchor="middle">{esc(name)}</text>')
    return parts


def _legend(items: list[tuple[str, str]], x: float, y: float) -> str:
    parts = []
    for label, colour in items:
        parts.append(f'<line x1="{x:.0f}" x2="{x + 16:.0f}" y1="{y - 4:.0f}" y2="{y - 4:.0f}" stroke="{colour}" stroke-width="2.5"/>'
                     f'<text x="{x + 20:.0f}" y="{y:.0f}" class="l">{esc(label)}</text>')
        x += 30 + 7.2 * len(label)
    return "".join(parts)


__all__ = ["profile_chart", "profile_charts"]
