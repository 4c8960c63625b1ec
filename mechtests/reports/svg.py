"""Inline SVG plots for list-valued evidence: bars for profiles, heatmaps for (layer, head) maps.

Plain strings, no dependencies, every text escaped. Bars share one y-range and heatmaps one
colour range across the models they are drawn beside, so ARM and MDM can be compared by eye.
"""

from __future__ import annotations

import html
from typing import Any

Vector = list  # list[float | None]
Matrix = list  # list[list[float | None]]


def value_range(values: list[Any]) -> tuple[float, float]:
    """(lo, hi) over every finite number in nested lists, with 0 included and hi > lo."""
    flat = [v for v in _flatten(values) if v is not None]
    lo, hi = min(flat + [0.0]), max(flat + [0.0])
    return (lo, hi if hi > lo else lo + 1.0)


def _flatten(values: Any) -> list[float | None]:
    if isinstance(values, list):
        return [x for v in values for x in _flatten(v)]
    return [values]


def bars(values: Vector, title: str, vrange: tuple[float, float], width: int = 320, height: int = 140) -> str:
    """A bar per element (e.g. per layer); negative bars hang below the zero line."""
    lo, hi = vrange
    n = max(len(values), 1)
    pad_l, pad_b, pad_t = 42, 22, 26
    plot_w, plot_h = width - pad_l - 4, height - pad_b - pad_t
    y = lambda v: pad_t + plot_h * (hi - v) / (hi - lo)  # noqa: E731
    bw = plot_w / n
    parts = [open_svg(width, height, title, "bars")]
    parts.append(f'<text x="{pad_l}" y="15" class="t">{esc(title)}</text>')
    parts.append(f'<line x1="{pad_l}" x2="{width - 4}" y1="{y(0):.1f}" y2="{y(0):.1f}" class="axis"/>')
    parts.append(f'<text x="{pad_l - 3}" y="{pad_t + 4}" class="l" text-anchor="end">{num(hi)}</text>')
    parts.append(f'<text x="{pad_l - 3}" y="{pad_t + plot_h}" class="l" text-anchor="end">{num(lo)}</text>')
    for i, v in enumerate(values):
        x = pad_l + i * bw
        if v is None:
            continue
        top, bottom = sorted((y(v), y(0)))
        parts.append(
            f'<rect x="{x + bw * 0.1:.1f}" y="{top:.1f}" width="{bw * 0.8:.1f}" height="{max(bottom - top, 0.5):.1f}" '
            f'class="bar"><title>{i}: {num(v)}</title></rect>'
        )
    step = max(1, n // 8)
    for i in range(0, n, step):
        parts.append(f'<text x="{pad_l + (i + 0.5) * bw:.1f}" y="{height - 5}" class="l" text-anchor="middle">{i}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap(rows: Matrix, title: str, vrange: tuple[float, float], cell: int = 16) -> str:
    """One cell per (row, column), e.g. (layer, head); darker is larger."""
    lo, hi = vrange
    n_rows, n_cols = len(rows), max((len(r) for r in rows), default=0)
    cell = max(4, min(cell, 320 // max(n_cols, 1)))
    pad_l, pad_t = 30, 24
    width, height = max(pad_l + n_cols * cell + 4, 12 + 7 * len(title)), pad_t + n_rows * cell + 18
    parts = [open_svg(width, height, title, "heatmap")]
    parts.append(f'<text x="{pad_l}" y="15" class="t">{esc(title)}</text>')
    for r, row in enumerate(rows):
        parts.append(f'<text x="{pad_l - 3}" y="{pad_t + r * cell + cell * 0.8:.1f}" class="l" text-anchor="end">{r}</text>')
        for c, v in enumerate(row):
            shade = "#eee" if v is None else _blue((v - lo) / (hi - lo))
            parts.append(
                f'<rect x="{pad_l + c * cell}" y="{pad_t + r * cell}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{shade}"><title>({r}, {c}): {num(v)}</title></rect>'
            )
    parts.append(f'<text x="{pad_l}" y="{height - 3}" class="l">{num(lo)} .. {num(hi)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def plot(value: list[Any], title: str, vrange: tuple[float, float]) -> str:
    """bars for a flat list, a heatmap for a list of lists."""
    if value and all(isinstance(v, list) for v in value):
        return heatmap(value, title, vrange)
    return bars([v if not isinstance(v, list) else None for v in value], title, vrange)


def open_svg(width: float, height: float, title: str, kind: str) -> str:
    """The opening tag of a chart drawn at its natural size (class `chart`, its kind in data-chart)."""
    width, height = round(width), round(height)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="chart" data-chart="{kind}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">')


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _blue(t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    r, g, b = (int(247 - t * (247 - 8)), int(251 - t * (251 - 48)), int(255 - t * (255 - 107)))
    return f"#{r:02x}{g:02x}{b:02x}"


def num(v: float | None) -> str:
    return "nan" if v is None else html.escape(f"{v:.3g}")
