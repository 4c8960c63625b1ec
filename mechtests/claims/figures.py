"""What a hypothesis records so that the report can draw its models on shared axes.

A chart is named by the `chart` extra of record(); every entry with the same name, from any
model of the hypothesis, lands on one chart. Four kinds:

    # a point with its interval, at category x, in series s (default: the result's model)
    mechtests.record("ioi: edge Jaccard", est, **figures.point("edge Jaccard per task", x="ioi", band=(lo, hi)))
    # a per-layer profile with intervals: value = [[share, lo, hi], ...] (see mechtests.stats.profile_bands)
    mechtests.record("ioi: attribution by layer, ARM", bands, **figures.profile("ioi: attribution by layer", "ARM"))
    # a circuit on the layer grid: value = [[up_layer, up_col, down_layer, down_col], ...] (see `grid_edges`)
    mechtests.record("ioi: ARM circuit", edges, **figures.circuit("ioi: circuits", "ARM", n_layers=4, n_heads=4))
    # a curve over a numeric x: value = [[x, value, lo, hi], ...] (faithfulness by circuit size, reports/curves.py)
    mechtests.record("ioi: faithfulness curve, ARM", rows, **figures.curve("ioi: faithfulness by circuit size", "ARM"))

Plain data only (record() takes str/number extras and nested lists of numbers), so the
vocabulary travels through xdist and results.json; the renderer (reports/charts.py) reads it
back with `chart_of`. Nothing here needs torch or numpy, so rendering a results.json stays light.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

CHART, KIND, X, SERIES = "chart", "chart_kind", "chart_x", "chart_series"
BAND_LO, BAND_HI = "chart_band_lo", "chart_band_hi"
LAYERS, HEADS = "chart_layers", "chart_heads"
POINT, PROFILE, CIRCUIT, CURVE = "point", "profile", "circuit", "curve"
KINDS = (POINT, PROFILE, CIRCUIT, CURVE)


def point(chart: str, x: str, series: str | None = None, band: tuple[float, float] | None = None) -> dict[str, Any]:
    """Extras for a scalar estimate drawn as a point with its interval; `band`: a null range drawn behind it."""
    extras: dict[str, Any] = {CHART: chart, KIND: POINT, X: x}
    if series is not None:
        extras[SERIES] = series
    if band is not None:
        extras[BAND_LO], extras[BAND_HI] = float(band[0]), float(band[1])
    return extras


def profile(chart: str, series: str) -> dict[str, Any]:
    """Extras for a per-layer profile recorded as [[value, lo, hi], ...]."""
    return {CHART: chart, KIND: PROFILE, SERIES: series}


def circuit(chart: str, series: str, n_layers: int, n_heads: int) -> dict[str, Any]:
    """Extras for a circuit's edges on the layer grid (n_heads head columns, then the MLP)."""
    return {CHART: chart, KIND: CIRCUIT, SERIES: series, LAYERS: int(n_layers), HEADS: int(n_heads)}


def curve(chart: str, series: str) -> dict[str, Any]:
    """Extras for a curve recorded as [[x, value, lo, hi], ...] (x in % of the graph's edges, drawn on a log axis)."""
    return {CHART: chart, KIND: CURVE, SERIES: series}


_NODE = re.compile(r"a(\d+)\.h(\d+)|m(\d+)")


def grid_edges(edges: Sequence[tuple[str, str]], n_layers: int, n_heads: int) -> list[list[int]]:
    """Edges between graph node names ('embed', 'a2.h1', 'm3', 'logits') as grid cells:
    [up_layer, up_col, down_layer, down_col]; embed sits at layer -1, logits at layer n_layers."""

    def cell(name: str) -> list[int]:
        if name == "embed":
            return [-1, 0]
        if name == "logits":
            return [n_layers, 0]
        match = _NODE.fullmatch(name)
        if match is None:
            raise ValueError(f"not a graph node name: {name!r}")
        head_layer, head, mlp_layer = match.groups()
        return [int(head_layer), int(head)] if mlp_layer is None else [int(mlp_layer), n_heads]

    return [cell(up) + cell(down) for up, down in edges]


@dataclass(frozen=True)
class ChartEntry:
    """One recorded entry that belongs on a chart, with the model whose result recorded it."""

    chart: str
    kind: str
    series: str
    x: str | None
    entry: dict[str, Any]


def chart_of(entry: dict[str, Any], model: str) -> ChartEntry | None:
    """The chart an evidence entry belongs on, or None (no `chart` extra, or a shape its kind cannot draw)."""
    extra = entry.get("extra") or {}
    name, kind = extra.get(CHART), extra.get(KIND)
    if not isinstance(name, str) or kind not in KINDS:
        return None
    value = entry.get("value")
    if (kind == POINT) == isinstance(value, list):
        return None
    if kind != POINT and not all(isinstance(row, list) for row in value):
        return None
    return ChartEntry(name, kind, str(extra.get(SERIES, model)), extra.get(X), entry)


def is_chart_key(key: str) -> bool:
    """Extras that only steer drawing, left out of the evidence table's details."""
    return key == CHART or key.startswith("chart_")
