"""The mask-ratio profiles of suites/test_mdm_only.py in report.html, in headless Chromium at 1280 px.

The page is rendered from a committed results.json of that file's run on the bundled pair
(tests/browser/data/mdm_only_results.json, seed 0); skipped, with the reason, without Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("websocket", reason="the browser tests need websocket-client (pip install websocket-client)")

from chromium import BROWSER, NEEDS_BROWSER  # noqa: E402
from pagecheck import check  # noqa: E402

from mechtests.reports.render_html import render_html  # noqa: E402

pytestmark = NEEDS_BROWSER
DATA = Path(__file__).parent / "data" / "mdm_only_results.json"


def test_mask_ratio_profiles_draw_with_the_arm_as_a_reference_line(tmp_path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(json.loads(DATA.read_text())))
    html = page.read_text()
    findings = check(page, BROWSER)
    assert findings.problems() == []
    sweeps = [c for c in findings.layout["charts"] if c["kind"] == "sweep"]
    assert [c["label"] for c in sweeps] == ["countdown: early-layer share by mask ratio", "countdown: correct by mask ratio",
                                            "infilling: early-layer share by mask ratio", "infilling: correct by mask ratio"]
    assert all(c["width"] >= 300 and c["height"] >= 150 for c in sweeps)
    assert html.count("ARM (reference)") == 4 and html.count("<polyline") == 4
