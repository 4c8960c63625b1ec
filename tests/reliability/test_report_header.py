"""report.html and summary.md say which budget, device and dtype ran, and a one-model run says
which model it left out rather than printing `None`."""

from __future__ import annotations

from typing import Any

from mechtests.reports.render_html import render_html
from mechtests.reports.render_markdown import render_markdown


def one_model_run() -> dict[str, Any]:
    return {"schema": "mechtests.results", "version": 2, "hypotheses": [], "run": {
        "seed": 0, "pair": "smollm2", "budget": {"name": "quick", "candidates": 200}, "device": "auto", "dtype": "auto",
        "models": {"arm": {"path": "/models/arm", "weights_sha256": "ab" * 32, "device": "cpu", "dtype": "float32"},
                   "mdm": {"path": None, "weights_sha256": None, "device": None, "dtype": None}},
        "finished": "2026-12-07T05:00:00+00:00"}}


def test_summary_names_the_budget_device_dtype_and_the_model_left_out() -> None:
    summary = render_markdown(one_model_run())
    assert "- mdm: none (one-model run)\n" in summary and "None" not in summary
    assert "- budget quick (200 candidates), device auto (cpu), dtype auto (float32)\n" in summary


def test_report_html_names_the_budget_device_dtype_and_the_model_left_out() -> None:
    page = render_html(one_model_run())
    assert "budget quick (200 candidates) · device auto (cpu) · dtype auto (float32)" in page
    assert "<td>mdm</td><td>none (one-model run)</td>" in page and "<code>None</code>" not in page
