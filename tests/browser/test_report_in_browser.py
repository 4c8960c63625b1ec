"""report.html in a real browser (headless Chromium at 1280 px), as a reader would see it.

Skipped, with the reason, where no Chromium is installed (`.ci/run` installs Debian's
chromium). The page under test is rendered from a committed results.json of the bundled pair
(tests/browser/data), with a baseline whose verdict differs, and from the faithfulness run's
(its curve charts); set MECHTESTS_REPORT=path to
check a run's own report.html as well (its screenshot lands next to it). The last tests break
a page on purpose and show that the check fails.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("websocket", reason="the browser tests need websocket-client (pip install websocket-client)")

from chromium import BROWSER, NEEDS_BROWSER  # noqa: E402
from pagecheck import check  # noqa: E402

from mechtests.reports import gate  # noqa: E402
from mechtests.run.parsing import parse_tolerance  # noqa: E402
from mechtests.reports.render_html import render_html  # noqa: E402
from mechtests.reports.schema import dumps  # noqa: E402

pytestmark = NEEDS_BROWSER
DATA = Path(__file__).parent / "data" / "bundled_results.json"
CURVES = Path(__file__).parent / "data" / "faithfulness_results.json"  # `pytest suites/ -n auto -k faithful`, bundled pair
CHANGED = "pathways.arm_circuit_causal_in_mdm"


def _page_with_a_changed_verdict(folder: Path) -> Path:
    """report.html of the bundled run against a baseline in which one pair verdict was `fails`."""
    results = json.loads(DATA.read_text())
    old = copy.deepcopy(results)
    hyp = next(h for h in old["hypotheses"] if h["key"] == CHANGED)
    hyp["results"]["pair"].update(outcome="fails", matched=False)
    for ev in hyp["results"]["pair"]["evidence"]:
        if ev["threshold"] is not None:
            ev["value"], ev["ci"] = -ev["value"], [-ev["ci"][1], -ev["ci"][0]]
    old_path = folder / "old_results.json"
    old_path.write_text(dumps(old))
    comparison = gate.compare(gate.baseline_from_results(old), gate.baseline_from_results(results), parse_tolerance("10%"))
    results["baseline"] = {"file": str(old_path), **comparison}
    page = folder / "report.html"
    page.write_text(render_html(results))
    return page


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return _page_with_a_changed_verdict(tmp_path_factory.mktemp("report"))


def test_the_bundled_report_reads_well_at_1280px(page) -> None:
    findings = check(page, BROWSER)
    assert findings.problems() == []
    kinds = {c["kind"] for c in findings.layout["charts"]}
    assert {"point", "profile", "circuit"} <= kinds  # each pair-level chart kind is drawn
    assert len(findings.layout["charts"]) >= 15
    assert len(findings.layout["links"]) >= 10 and all(link["landed"] for link in findings.layout["links"])
    assert findings.layout["baselineFirst"] is True  # the changed verdict comes before the matrix
    assert findings.screenshot == page.with_suffix(".png")
    assert findings.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_multi_seed_report_reads_well_at_1280px(tmp_path) -> None:
    """The bundled run as if at seeds 0-3, one verdict seed-dependent: per-seed notes in every
    matrix cell and a per-seed table per result, still without horizontal scrolling."""
    results = json.loads(DATA.read_text())
    results["run"]["seeds"] = [0, 1, 2, 3]
    for hyp in results["hypotheses"]:
        for res in hyp["results"].values():
            flips = hyp["key"] == CHANGED
            outcomes = [res["outcome"], *(["fails"] * 3 if flips else [res["outcome"]] * 3)]
            res["seeds"] = [{"seed": s, "outcome": o, "message": res["message"], "evidence": res["evidence"]}
                            for s, o in enumerate(outcomes)]
            res["agreement"] = not flips
            if flips:
                res.update(outcome="inconclusive", grade="warning", matched=False)
    page = tmp_path / "report.html"
    page.write_text(render_html(results))
    assert "seed-dependent: holds at 0; fails at 1-3" in page.read_text()
    findings = check(page, BROWSER)
    assert findings.problems() == []
    assert all(link["landed"] for link in findings.layout["links"])


def test_the_faithfulness_curves_draw_both_models_with_bands(tmp_path) -> None:
    """report.html of the bundled `pytest suites/ -k faithful` run (tests/browser/data): one curve
    chart per task, the ARM and the MDM on shared axes, each a line with its interval band."""
    results = json.loads(CURVES.read_text())
    page = tmp_path / "report.html"
    page.write_text(render_html(results))
    findings = check(page, BROWSER)
    assert findings.problems() == []
    curves = [c for c in findings.layout["charts"] if c["kind"] == "curve"]
    hyp = next(h for h in results["hypotheses"] if h["key"] == "faithfulness.task_circuits_are_faithful")
    tasks = {ev["name"].split(":")[0] for res in hyp["results"].values() for ev in res["evidence"] if ev["name"].endswith("faithfulness curve")}
    assert sorted(c["label"] for c in curves) == sorted(f"{task}: faithfulness by circuit size" for task in tasks) and len(tasks) == 5
    assert all(c["width"] >= 400 and c["height"] >= 200 for c in curves)
    for svg in page.read_text().split('data-chart="curve"')[1:]:
        drawn = svg.split("</svg>")[0]
        assert drawn.count("<polyline") == 2 and drawn.count('class="band"') == 2 and ">ARM<" in drawn and ">MDM<" in drawn


@pytest.mark.skipif(not os.environ.get("MECHTESTS_REPORT"), reason="set MECHTESTS_REPORT=reports/report.html to check a run's report")
def test_the_run_report_reads_well_at_1280px() -> None:
    findings = check(Path(os.environ["MECHTESTS_REPORT"]), BROWSER)
    assert findings.problems() == []
    assert findings.layout["charts"]


BREAKAGES = {
    "chart of zero size": (lambda html: html.replace('class="chart"', 'class="chart" style="display:none"', 1), "renders at 0 x 0 px"),
    "link to nowhere": (lambda html: html.replace("<table class='matrix'><tr>", "<table class='matrix'><tr><td><a href='#nowhere'>x</a></td>", 1),
                        "#nowhere (x) has no target"),
    "request leaving the file": (lambda html: html.replace("</body>", "<img src='http://127.0.0.1:9/pixel.png' alt=''></body>"),
                                 "request leaves the file: http://127.0.0.1:9/pixel.png"),
    "tiny text": (lambda html: html.replace("</body>", "<p style='font-size:9px'>small print</p></body>"),
                  "'small print' (P) renders at 9.0 px"),
    "wide matrix": (lambda html: html.replace("<table class='matrix'><tr>", "<table class='matrix'><tr><td style='white-space:nowrap'>"
                                              + "wide " * 300 + "</td>", 1), "the matrix needs horizontal scrolling"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_page_broken_on_purpose_fails_the_check(page, tmp_path, breakage) -> None:
    damage, expected = BREAKAGES[breakage]
    broken = tmp_path / "report.html"
    broken.write_text(damage(page.read_text()))
    problems = check(broken, BROWSER).problems()
    assert any(expected in p for p in problems), problems
