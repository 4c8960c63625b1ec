"""Charts that put a hypothesis's models on shared axes, drawn from the entries `mechtests.claims.figures` names.

One chart per `chart` name, whatever model recorded its entries: points with intervals per
category (a null band and the threshold behind them), per-layer profiles as paired bars with
whiskers, and both circuits on one layer grid with shared and one-model edges told apart.
Self-contained SVG (no script, no external file); every text escaped.
"""

from __future__ import annotations

import math
from typing import Any

from mechtests.claims.figures import BAND_HI, BAND_LO, CIRCUIT, HEADS, LAYERS, POINT, PROFILE, ChartEntry, chart_of
from mechtests.reports.svg import esc, num, open_svg

PALETTE = ("#3b6fb6", "#d9822b", "#4f9a4b", "#8e5ba8", "#b54a4a")
SHARED = "#444"
DASHES = ("", "6 3", "2 2", "8 2 2 2", "1 3")
PAD_L, PAD_R, PAD_T, PAD_B = 52, 10, 40, 38
PLOT_H = 150


def hypothesis_charts(hyp: dict[str, Any]) -> list[str]:
    """Every chart of one hypothesis (results.json entry), in the order their names first appear."""
    charts: dict[str, list[ChartEntry]] = {}
    for model, res in hyp["results"].items():
        for ev in res["evidence"]:
            found = chart_of(ev, model)
            if found is not None:
                charts.setdefault(found.chart, []).append(found)
    out = []
    for name, entries in charts.items():
        kind = entries[0].kind
        same = [c for c in entries if c.kind == kind]
        draw = {POINT: point_chart, PROFILE: profile_chart, CIRCUIT: circuit_chart}.get(kind)  # curves: reports/curves.py
        if draw is not None:
            out.append(draw(name, same))
    return out


def _series(entries: list[ChartEntry]) -> list[str]:
    return list(dict.fromkeys(c.series for c in entries))


def _legend_width(items: list[tuple[str, str, str]]) -> float:
    return sum(30 + 7.2 * len(label) for label, _, _ in items)


def _legend(items: list[tuple[str, str, str]], x: float, y: float) -> str:
    """items: (label, colour, shape) with shape 'dot', 'band', 'line' or a dash pattern for edges."""
    parts = []
    for label, colour, shape in items:
        if shape == "band":
            parts.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="14" height="10" fill="{colour}" opacity="0.35"/>')
        elif shape == "dot":
            parts.append(f'<circle cx="{x + 7:.0f}" cy="{y - 4:.0f}" r="4.5" fill="{colour}"/>')
        else:
            dash = "" if shape == "line" else f' stroke-dasharray="{shape}"'
            parts.append(f'<line x1="{x:.0f}" x2="{x + 16:.0f}" y1="{y - 4:.0f}" y2="{y - 4:.0f}" stroke="{colour}" stroke-width="2.5"{dash}/>')
        parts.append(f'<text x="{x + 20:.0f}" y="{y:.0f}" class="l">{esc(label)}</text>')
        x += 30 + 7.2 * len(label)
    return "".join(parts)


def _scale(values: list[float]) -> tuple[float, float, float]:
    """(lo, hi, step): a y-range with 0 in it, widened to whole steps of 1, 2 or 5 x 10^k."""
    finite = [v for v in values if v is not None and math.isfinite(v)] + [0.0]
    lo, hi = min(finite), max(finite)
    raw = (hi - lo or 1.0) / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step, step


def _y_axis(lo: float, hi: float, step: float, width: float, y) -> str:
    parts = []
    for i in range(round((hi - lo) / step) + 1):
        v = lo + i * step
        parts.append(f'<line x1="{PAD_L}" x2="{width - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" class="l" text-anchor="end">{num(0.0 if abs(v) < step * 1e-6 else v)}</text>')
    parts.append(f'<line x1="{PAD_L}" x2="{width - PAD_R}" y1="{y(0):.1f}" y2="{y(0):.1f}" class="axis"/>')
    return "".join(parts)


def _frame(title: str, width: float, height: float, kind: str) -> str:
    return open_svg(width, height, title, kind) + f'<text x="{PAD_L}" y="16" class="t">{esc(title)}</text>'


def _whisker(x: float, top: float, bottom: float, colour: str) -> str:
    return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="{colour}" stroke-width="1.5"/>'
            f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{top:.1f}" y2="{top:.1f}" stroke="{colour}" stroke-width="1.5"/>'
            f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{bottom:.1f}" y2="{bottom:.1f}" stroke="{colour}" stroke-width="1.5"/>')


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "…"


def point_chart(title: str, entries: list[ChartEntry]) -> str:
    """Categories along x; per category one point with its interval per series, the null band and
    the threshold drawn behind them."""
    series = _series(entries)
    cats = list(dict.fromkeys(c.x or c.entry["name"] for c in entries))
    group_w = max(96, 30 * len(series) + 36, min(7 * max(len(c) for c in cats) + 12, 170))
    width = PAD_L + PAD_R + group_w * len(cats)
    height = PAD_T + PLOT_H + PAD_B
    values: list[float] = []
    for c in entries:
        ev, extra = c.entry, c.entry.get("extra") or {}
        values += [ev["value"], *(ev.get("ci") or []), ev.get("threshold"), extra.get(BAND_LO), extra.get(BAND_HI)]
    lo, hi, step = _scale([v for v in values if isinstance(v, (int, float))])
    y = lambda v: PAD_T + PLOT_H * (hi - v) / (hi - lo)  # noqa: E731
    extras = [c.entry.get("extra") or {} for c in entries]
    legend = [(s, PALETTE[i % len(PALETTE)], "dot") for i, s in enumerate(series)] if len(series) > 1 else []
    legend += [("null band", "#999", "band")] * any(x.get(BAND_LO) is not None for x in extras)
    legend += [("threshold", "#b00", "6 3")] * any(c.entry.get("threshold") is not None for c in entries)
    width = max(width, PAD_L + PAD_R + _legend_width(legend), PAD_L + 8 * len(title))
    parts = [_frame(title, width, height, POINT), _y_axis(lo, hi, step, width, y)]
    for i, cat in enumerate(cats):
        x0 = PAD_L + i * group_w
        parts.append(f'<text x="{x0 + group_w / 2:.1f}" y="{height - PAD_B + 18}" class="l" text-anchor="middle">'
                     f'{esc(_clip(cat, group_w // 7))}<title>{esc(cat)}</title></text>')
        here = [c for c in entries if (c.x or c.entry["name"]) == cat]
        for c in here:
            extra = c.entry.get("extra") or {}
            if extra.get(BAND_LO) is not None and extra.get(BAND_HI) is not None:
                top, bottom = y(extra[BAND_HI]), y(extra[BAND_LO])
                parts.append(f'<rect x="{x0 + 6}" y="{top:.1f}" width="{group_w - 12}" height="{max(bottom - top, 1):.1f}" '
                             f'class="band"><title>null {num(extra[BAND_LO])} .. {num(extra[BAND_HI])}</title></rect>')
                break
        for c in here:
            if c.entry.get("threshold") is not None:
                ty = y(c.entry["threshold"])
                parts.append(f'<line x1="{x0 + 4}" x2="{x0 + group_w - 4}" y1="{ty:.1f}" y2="{ty:.1f}" class="thr">'
                             f'<title>threshold {num(c.entry["threshold"])}</title></line>')
                break
        present = [s for s in series if any(c.series == s for c in here)]
        for c in here:
            s, slot = series.index(c.series), present.index(c.series)
            colour = PALETTE[s % len(PALETTE)]
            cx = x0 + group_w * (slot + 1) / (len(present) + 1)
            ev = c.entry
            if ev["value"] is None:
                continue
            if ev.get("ci") and None not in ev["ci"]:
                parts.append(_whisker(cx, y(ev["ci"][1]), y(ev["ci"][0]), colour))
            interval = f" [{num(ev['ci'][0])}, {num(ev['ci'][1])}]" if ev.get("ci") else ""
            parts.append(f'<circle cx="{cx:.1f}" cy="{y(ev["value"]):.1f}" r="4.5" fill="{colour}">'
                         f'<title>{esc(c.series)} {esc(cat)}: {num(ev["value"])}{interval}</title></circle>')
    parts.append(_legend(legend, PAD_L, 33))
    parts.append("</svg>")
    return "".join(parts)


def profile_chart(title: str, entries: list[ChartEntry]) -> str:
    """One group of bars per layer, a bar per series with its interval as a whisker."""
    series = _series(entries)
    n_layers = max(len(c.entry["value"]) for c in entries)
    group_w = max(44, 20 * len(series) + 16)
    legend = [(s, PALETTE[i % len(PALETTE)], "dot") for i, s in enumerate(series)]
    width = max(PAD_L + PAD_R + group_w * n_layers, PAD_L + PAD_R + _legend_width(legend), PAD_L + 8 * len(title))
    height = PAD_T + PLOT_H + PAD_B
    values = [v for c in entries for row in c.entry["value"] for v in row[:3] if isinstance(v, (int, float))]
    lo, hi, step = _scale(values)
    y = lambda v: PAD_T + PLOT_H * (hi - v) / (hi - lo)  # noqa: E731
    parts = [_frame(title, width, height, PROFILE), _y_axis(lo, hi, step, width, y)]
    bar_w = (group_w - 12) / len(series)
    for layer in range(n_layers):
        x0 = PAD_L + layer * group_w
        parts.append(f'<text x="{x0 + group_w / 2:.1f}" y="{height - PAD_B + 18}" class="l" text-anchor="middle">{layer}</text>')
        for c in entries:
            row = c.entry["value"][layer] if layer < len(c.entry["value"]) else []
            if not row or row[0] is None:
                continue
            s = series.index(c.series)
            colour = PALETTE[s % len(PALETTE)]
            bx = x0 + 6 + s * bar_w
            top, bottom = sorted((y(row[0]), y(0)))
            interval = f" [{num(row[1])}, {num(row[2])}]" if len(row) >= 3 and None not in row[1:3] else ""
            parts.append(f'<rect x="{bx:.1f}" y="{top:.1f}" width="{bar_w - 2:.1f}" height="{max(bottom - top, 0.5):.1f}" fill="{colour}">'
                         f'<title>{esc(c.series)} layer {layer}: {num(row[0])}{interval}</title></rect>')
            if interval:
                parts.append(_whisker(bx + (bar_w - 2) / 2, y(row[2]), y(row[1]), "#222"))
    parts.append(f'<text x="{width - PAD_R}" y="{height - 4}" class="l" text-anchor="end">layer</text>')
    parts.append(_legend(legend, PAD_L, 33))
    parts.append("</svg>")
    return "".join(parts)


CELL_W, CELL_H = 46, 44


def circuit_chart(title: str, entries: list[ChartEntry]) -> str:
    """Both circuits on one (layer x component) grid: an edge drawn once, coloured by which
    series hold it (all of them: dark and thick; one only: that series' colour and dash)."""
    series = _series(entries)
    extra = entries[0].entry.get("extra") or {}
    n_layers, n_heads = int(extra.get(LAYERS, 0)), int(extra.get(HEADS, 0))
    edge_sets: dict[str, set[tuple[int, ...]]] = {s: set() for s in series}
    for c in entries:
        edge_sets[c.series] |= {tuple(int(v) for v in e[:4]) for e in c.entry["value"] if len(e) >= 4 and None not in e[:4]}
    cells = {cell for edges in edge_sets.values() for e in edges for cell in (e[:2], e[2:])}
    n_layers = max([n_layers] + [layer for layer, _ in cells])
    n_heads = max([n_heads] + [col for layer, col in cells if 0 <= layer < n_layers])
    n_cols = n_heads + 1
    holders = {e: [s for s in series if e in edge_sets[s]] for e in sorted(set().union(*edge_sets.values()))}
    shared = sum(len(h) == len(series) for h in holders.values()) if len(series) > 1 else 0
    legend = [(f"shared ({shared})", SHARED, "line")] if len(series) > 1 else []
    legend += [(f"{s} only ({sum(h == [s] for h in holders.values()) if len(series) > 1 else len(holders)})",
                PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)] or "line") for i, s in enumerate(series)]
    width = max(PAD_L + PAD_R + CELL_W * n_cols + 20, PAD_L + PAD_R + _legend_width(legend), PAD_L + 8 * len(title))
    height = PAD_T + 20 + CELL_H * (n_layers + 1) + PAD_B

    def pos(layer: int, col: int) -> tuple[float, float]:
        cy = PAD_T + 24 + CELL_H * (n_layers - layer)
        if layer < 0 or layer >= n_layers:
            return PAD_L + 10 + CELL_W * (n_cols - 1) / 2 + CELL_W / 2, cy
        return PAD_L + 10 + CELL_W * col + CELL_W / 2, cy

    parts = [_frame(title, width, height, CIRCUIT)]
    for layer in range(-1, n_layers + 1):
        label = "embed" if layer < 0 else "logits" if layer == n_layers else f"L{layer}"
        parts.append(f'<text x="{PAD_L - 4}" y="{pos(layer, 0)[1] + 4:.1f}" class="l" text-anchor="end">{label}</text>')
    for col in range(n_cols):
        label = "mlp" if col == n_heads else f"h{col}"
        parts.append(f'<text x="{pos(0, col)[0]:.1f}" y="{height - PAD_B + 16}" class="l" text-anchor="middle">{label}</text>')
    for e, held_by in holders.items():
        (x1, y1), (x2, y2) = pos(*e[:2]), pos(*e[2:])
        # a slight bend, so that edges between the same rows or columns stay apart
        cx, cy = (x1 + x2) / 2 - 0.15 * (y2 - y1), (y1 + y2) / 2 + 0.15 * (x2 - x1)
        if len(held_by) == len(series) and len(series) > 1:
            style, what = f'stroke="{SHARED}" stroke-width="2.6"', "shared"
        else:
            s = series.index(held_by[0])
            dash = f' stroke-dasharray="{DASHES[s % len(DASHES)]}"' if DASHES[s % len(DASHES)] else ""
            style, what = f'stroke="{PALETTE[s % len(PALETTE)]}" stroke-width="1.8"{dash}', f"{held_by[0]} only"
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}" fill="none" {style} opacity="0.85">'
                     f'<title>{esc(what)}: {_node(e[:2], n_layers, n_heads)} → {_node(e[2:], n_layers, n_heads)}</title></path>')
    for layer in range(-1, n_layers + 1):
        for col in ([0] if layer < 0 or layer == n_layers else range(n_cols)):
            x, yy = pos(layer, col)
            used = (layer, col) in cells
            parts.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="{6 if used else 3.5}" class="{"node" if used else "node idle"}"/>')
    parts.append(_legend(legend, PAD_L, 33))
    parts.append("</svg>")
    return "".join(parts)


def _node(cell: tuple[int, ...], n_layers: int, n_heads: int) -> str:
    layer, col = cell
    if layer < 0:
        return "embed"
    if layer >= n_layers:
        return "logits"
    return f"mlp {layer}" if col == n_heads else f"head {layer}.{col}"
