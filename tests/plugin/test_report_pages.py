"""The report's charts, its baseline block, `mechtests report` and `mechtests compare --html`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mechtests.claims import figures
from mechtests.cli import main
from mechtests.claims.evidence import make_entry
from mechtests.reports import gate
from mechtests.run.parsing import parse_tolerance
from mechtests.reports.charts import hypothesis_charts
from mechtests.reports.render_html import render_html
from mechtests.reports.render_markdown import render_markdown

DATA = Path(__file__).parent / "data"


def _hypothesis(*entries: tuple[str, dict]) -> dict:
    """A results.json hypothesis entry with evidence recorded on the given models."""
    results: dict = {}
    for model, entry in entries:
        results.setdefault(model, {"outcome": "holds", "expected": "holds", "matched": True, "message": None,
                                   "evidence": [], "nodeid": "n", "rerun": "pytest n", "duration_s": 0.1})["evidence"].append(entry)
    return {"key": "k", "results": results}


def test_profiles_of_both_models_share_one_chart() -> None:
    hyp = _hypothesis(
        ("pair", make_entry("ioi: by layer, ARM", [[0.5, 0.4, 0.6], [0.5, 0.45, 0.55]], **figures.profile("ioi: by layer", "ARM"))),
        ("pair", make_entry("ioi: by layer, MDM", [[0.2, 0.1, 0.3], [0.8, 0.7, 0.9]], **figures.profile("ioi: by layer", "MDM"))),
    )
    [chart] = hypothesis_charts(hyp)
    assert 'data-chart="profile"' in chart and "ARM" in chart and "MDM" in chart
    assert chart.count("<rect") == 4  # two layers x two models
    assert "MDM layer 1: 0.8 [0.7, 0.9]" in chart  # the interval rides along


def test_points_of_both_models_share_one_chart_with_the_null_band_and_threshold() -> None:
    hyp = _hypothesis(
        ("arm", make_entry("score", 0.9, ci=(0.8, 1.0), threshold=0.5, **figures.point("scores", x="ioi", band=(0.0, 0.1)))),
        ("mdm", make_entry("score", 0.3, ci=(0.2, 0.4), threshold=0.5, **figures.point("scores", x="ioi", band=(0.0, 0.1)))),
    )
    [chart] = hypothesis_charts(hyp)
    assert "arm ioi: 0.9 [0.8, 1]" in chart and "mdm ioi: 0.3 [0.2, 0.4]" in chart
    assert 'class="band"' in chart and 'class="thr"' in chart and "null band" in chart


def test_circuits_are_drawn_once_with_shared_and_one_model_edges_told_apart() -> None:
    arm = figures.grid_edges([("embed", "a0.h1"), ("a0.h1", "m1"), ("m1", "logits")], n_layers=2, n_heads=2)
    mdm = figures.grid_edges([("embed", "a0.h1"), ("a0.h1", "m1"), ("a1.h0", "logits")], n_layers=2, n_heads=2)
    assert arm == [[-1, 0, 0, 1], [0, 1, 1, 2], [1, 2, 2, 0]]
    hyp = _hypothesis(("pair", make_entry("ARM circuit", arm, **figures.circuit("ioi: circuits", "ARM", 2, 2))),
                      ("pair", make_entry("MDM circuit", mdm, **figures.circuit("ioi: circuits", "MDM", 2, 2))))
    [chart] = hypothesis_charts(hyp)
    assert "shared (2)" in chart and "ARM only (1)" in chart and "MDM only (1)" in chart
    assert chart.count("<path") == 4
    assert "ARM only: mlp 1 → logits" in chart and "MDM only: head 1.0 → logits" in chart


def test_an_entry_whose_shape_does_not_fit_its_chart_is_drawn_the_plain_way() -> None:
    entry = make_entry("scores", [0.1, 0.2], **figures.point("scores", x="ioi"))  # a list where a point is expected
    assert figures.chart_of(entry, "arm") is None
    results = json.loads((DATA / "new_results.json").read_text())
    results["hypotheses"][0]["results"]["arm"]["evidence"].append(entry)
    assert "scores [arm]" in render_html(results)  # drawn as plain bars, nothing lost


def _with_baseline(tmp_path: Path) -> dict:
    old, new = (json.loads((DATA / f"{n}_results.json").read_text()) for n in ("old", "new"))
    (tmp_path / "old.json").write_text(json.dumps(old))
    comparison = gate.compare(gate.baseline_from_results(old), gate.baseline_from_results(new), parse_tolerance("10%"))
    new["baseline"] = {"file": str(tmp_path / "old.json"), **comparison}
    return new


def test_a_changed_verdict_comes_first_in_html_and_markdown_with_both_values(tmp_path) -> None:
    results = _with_baseline(tmp_path)
    page = render_html(results)
    body = page.split("<body>")[1]
    assert body.index("Against the baseline") < body.index("<table class='matrix'>")
    block = body.split("</section>")[0]
    assert re.search(r"overlap\[ioi\] \[mdm\]</a></td><td>holds</td><td class='bad'>fails</td>", block)
    assert "score: 0.7 → <b>0.7</b> (threshold 0.5)" in block  # old and new values of its key evidence
    assert "score: 0.8 → <b>0.6</b>" in block  # the drifted metric
    summary = render_markdown(results)
    sections = [line for line in summary.splitlines() if line.startswith("## ")]
    assert sections[0].startswith("## Against the baseline")
    assert r"| ❌ overlap\[ioi\] \[mdm\] | holds | **fails** | score: 0.7 → **0.7** (threshold 0.5) |" in summary
    assert "&lt;" not in summary and "&#" not in summary  # fit for a CI job summary
    assert summary.index("Against the baseline") < summary.index("| hypothesis |")


def test_mechtests_report_renders_again_from_a_results_file(tmp_path, capsys) -> None:
    results = tmp_path / "run" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps(_with_baseline(tmp_path)))
    assert main(["report", str(results)]) == 0
    assert (results.parent / "report.html").read_text().count("Against the baseline") == 1
    assert main(["report", str(results), "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "summary.md").is_file()
    (tmp_path / "bad.json").write_text("{}")
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a mechtests results.json" in err


def test_compare_html_renders_the_page_with_the_comparison_on_top(tmp_path, capsys) -> None:
    out = tmp_path / "compare.html"
    assert main(["compare", str(DATA / "old_results.json"), str(DATA / "new_results.json"), "--html", str(out)]) == 1
    body = out.read_text().split("<body>")[1]
    assert body.index("1 verdict(s) changed") < body.index("<table class='matrix'>")
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(gate.baseline_from_results(json.loads((DATA / "new_results.json").read_text()))))
    assert main(["compare", str(DATA / "old_results.json"), str(baseline), "--html", str(tmp_path / "x.html")]) == 2
    assert "--html needs NEW to be a results.json" in capsys.readouterr().err


def test_chart_names_series_and_categories_are_shown_as_text() -> None:
    evil = "<script>alert(1)</script>"
    hyp = _hypothesis(
        ("pair", make_entry("a", 0.5, ci=(0.4, 0.6), **figures.point(evil, x=evil, series=evil))),
        ("pair", make_entry("b", [[0.5, 0.4, 0.6]], **figures.profile(evil + "p", evil))),
        ("pair", make_entry("c", [[-1, 0, 0, 0]], **figures.circuit(evil + "c", evil, 1, 1))),
    )
    charts = "".join(hypothesis_charts(hyp))
    assert charts.count("<svg") == 3 and "<script" not in charts and "&lt;script&gt;" in charts
