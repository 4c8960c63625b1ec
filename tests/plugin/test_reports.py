"""report.html and summary.md render from results.json, escape everything, and draw list evidence."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mechtests.reports.render_html import render_html
from mechtests.reports.render_markdown import render_markdown
from mechtests.reports.render_terminal import render_terminal

DATA = Path(__file__).parent / "data"


def test_a_script_in_a_test_name_is_shown_as_text(suite) -> None:
    suite.write(test_x='''
import mechtests
import pytest

@pytest.mark.parametrize("name", ["<script>alert(1)</script>"])
@mechtests.hypothesis(claim="<b>bold</b> & co")
def test_evil(subject, name):
    mechtests.record(name, 1.0, note="<img src=x onerror=alert(2)>")
    assert False, name
''')
    assert suite.run().ret == 1
    page = (suite.reports / "report.html").read_text()
    assert "<script" not in page and "<img" not in page and "<b>bold" not in page
    assert "x.evil[&lt;script&gt;alert(1)&lt;/script&gt;]" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    summary = (suite.reports / "summary.md").read_text()
    outside_code = re.sub(r"(`+) .*? \1", "", summary)  # a code span shows its text literally
    assert not re.search(r"(?<!\\)<script", outside_code) and "\\<script\\>" in summary and "&lt;" not in summary


def test_matrix_cells_link_to_their_evidence() -> None:
    page = render_html(json.loads((DATA / "new_results.json").read_text()))
    matrix = page.split("<table class='matrix'>")[1].split("</table>")[0]
    links = [part.split("'")[0] for part in matrix.split("href='#")[1:]]
    assert len(links) == 3  # the hypothesis and its two models
    for target in links:
        assert page.count(f"id='{target}'") == 1


def test_list_evidence_is_drawn_side_by_side_on_a_shared_scale() -> None:
    results = json.loads((DATA / "new_results.json").read_text())
    results["hypotheses"][0]["results"]["mdm"]["evidence"].append(
        {"name": "heads", "value": [[0.1, 0.9], [0.5, 0.2]], "ci": None, "threshold": None, "extra": {}}
    )
    page = render_html(results)
    assert page.count("<svg") == 3  # profile [arm], profile [mdm], heads [mdm]
    assert "profile [arm]" in page and "profile [mdm]" in page and "heads [mdm]" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_markdown_and_terminal_show_the_matrix() -> None:
    results = json.loads((DATA / "new_results.json").read_text())
    assert "| overlap\\[ioi\\] | ✅ holds | ❌ fails (expected holds!) |" in render_markdown(results)
    lines = render_terminal(results)
    assert lines[1].split() == ["hypothesis", "arm", "mdm"]
    assert lines[2].split() == ["overlap[ioi]", "holds", "fails", "(expected", "holds!)", "<--"]


def test_reports_are_replaced_atomically(suite, monkeypatch) -> None:
    suite.write(test_a="def test_a(subject):\n    pass\n")
    assert suite.run().ret == 0
    leftovers = [p.name for p in suite.reports.iterdir() if p.name.startswith(".")]
    assert leftovers == []
