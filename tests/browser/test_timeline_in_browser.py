"""The timeline page of `mechtests timeline` (#29) in headless Chromium at 1280 px.

Rendered from the committed timeline.json of a bundled-pair run over posttrain checkpoints
(tests/browser/data/timeline.json, the run README's timeline figures come from); skipped, with
the reason, without Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("websocket", reason="the browser tests need websocket-client (pip install websocket-client)")

from chromium import BROWSER, NEEDS_BROWSER  # noqa: E402
from pagecheck import check  # noqa: E402

from mechtests.reports.render_html import CSS  # noqa: E402
from mechtests.reports.timeline import render_timeline_html  # noqa: E402

pytestmark = NEEDS_BROWSER
DATA = Path(__file__).parent / "data" / "timeline.json"


def test_every_hypothesis_draws_its_statistic_against_the_step(tmp_path) -> None:
    data = json.loads(DATA.read_text())
    page = tmp_path / "report.html"
    page.write_text(render_timeline_html(data, CSS))
    findings = check(page, BROWSER)
    assert findings.problems() == []
    charts = [c for c in findings.layout["charts"] if c["kind"] == "timeline"]
    drawn = [row for row in data["hypotheses"] if any(p["value"] is not None for p in row["points"])]
    assert len(charts) == len(drawn) >= 5
    assert all(c["width"] >= 300 and c["height"] >= 150 for c in charts)
    assert findings.layout["pageWidth"] <= findings.layout["viewWidth"] + 1  # the verdict table fits the page
