"""What a hypothesis records so that the report draws a profile over a numeric axis (a mask ratio, a
denoising step) with another model as a reference line.

    # one point of the MDM's profile: an estimate at x = 0.25 on the chart's axis
    mechtests.record("infilling: early share at 0.25", est, **sweeps.at("infilling: early share by mask ratio", 0.25, "MDM"))
    # the ARM's value, which has no such axis: drawn across the whole chart as a reference line
    mechtests.record("infilling: early share, ARM", est, **sweeps.reference("infilling: early share by mask ratio", "ARM"))

Each point is a scalar estimate, so it also lands in the evidence table with its interval; the
renderer (reports/profiles.py) joins the points of a series in the order of x. The keys start
with `chart_`, so the evidence table leaves them out of its details, and name no `chart`, so the
charts of mechtests.claims.figures leave them alone.
"""

from __future__ import annotations

from typing import Any

from mechtests.claims.figures import SERIES

SWEEP, SWEEP_X, REFERENCE, AXIS = "chart_sweep", "chart_sweep_x", "chart_reference", "chart_axis"


def at(chart: str, x: float, series: str, axis: str = "mask ratio") -> dict[str, Any]:
    """Extras for one point of `series` at `x` on the chart's numeric axis (named `axis`)."""
    return {SWEEP: chart, SWEEP_X: float(x), SERIES: series, AXIS: axis}


def reference(chart: str, series: str) -> dict[str, Any]:
    """Extras for a value drawn as a horizontal reference line with its interval as a band."""
    return {SWEEP: chart, REFERENCE: 1, SERIES: series}


__all__ = ["AXIS", "REFERENCE", "SWEEP", "SWEEP_X", "at", "reference"]
