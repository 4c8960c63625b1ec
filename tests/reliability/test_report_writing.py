"""Reports are never lost (issue #11 point 5): values JSON or the charts cannot take are
replaced and flagged, a failing renderer leaves the other files, the three files are replaced
as one set, and they are written with the user's umask."""

from __future__ import annotations

import json
import os
import stat

import pytest

from mechtests.claims.evidence import make_entry
from mechtests.testing.suite import suite  # noqa: F401 - the fixture
from mechtests.reports.schema import json_safe, write_set


def test_an_extra_that_is_nan_is_kept_as_null_and_flagged(suite) -> None:
    suite.write(test_x='''
import mechtests

@mechtests.hypothesis()
def test_extra(subject):
    mechtests.record("score", 0.5, seed=0, effect=float("nan"), spread=float("-inf"))
''')
    assert suite.run().ret == 0
    entry = suite.results()["hypotheses"][0]["results"]["arm"]["evidence"][0]
    assert entry["extra"] == {"seed": 0, "effect": None, "spread": None}
    assert entry["flags"] == ["extra effect: nan replaced by null", "extra spread: -inf replaced by null"]
    assert "extra effect: nan replaced by null" in (suite.reports / "report.html").read_text()


def test_a_heatmap_of_huge_values_is_drawn_and_flagged(suite) -> None:
    suite.write(test_x='''
import mechtests

@mechtests.hypothesis()
def test_heat(subject):
    mechtests.record("score by head", [[1e308, -1e308], [0.5, float("nan")]])
''')
    assert suite.run().ret == 0
    entry = suite.results()["hypotheses"][0]["results"]["mdm"]["evidence"][0]
    assert entry["value"] == [[None, None], [0.5, None]]
    assert entry["flags"][0] == "value: 1e+308 replaced by null" and len(entry["flags"]) == 3
    page = (suite.reports / "report.html").read_text()
    assert page.count("<svg") >= 2 and "inf" not in page.split("<body>")[1].lower().replace("info", "")


def test_a_failing_renderer_leaves_results_and_the_other_files(suite) -> None:
    suite.pytester.makeconftest(suite.pytester.path.joinpath("conftest.py").read_text() + '''
import mechtests.plugin.controller as controller

def broken(results):
    raise ZeroDivisionError("renderer bug")

controller.RENDERERS = (("report.html", broken), controller.RENDERERS[1])
''')
    suite.write(test_x="import mechtests\n\n@mechtests.hypothesis()\ndef test_h(subject):\n    pass\n")
    result = suite.run()
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*problem: report.html could not be rendered (ZeroDivisionError: renderer bug)*"])
    assert suite.results()["hypotheses"][0]["results"]["arm"]["outcome"] == "holds"
    assert "renderer bug" in (suite.reports / "report.html").read_text()
    assert "| x.h |" in (suite.reports / "summary.md").read_text()


def test_a_report_folder_that_became_unwritable_sends_the_set_elsewhere(suite) -> None:
    suite.write(test_x='''
import mechtests

@mechtests.hypothesis(expect={"pair": "holds"})
def test_h():
    open("reports", "w").write("a file where the report folder should be")
''')
    result = suite.run()
    result.stdout.fnmatch_lines(["*could not write the reports to *reports (*); they are in *mechtests-reports-*"])
    moved = result.stdout.str().split("they are in ")[1].split()[0]
    assert json.loads(open(os.path.join(moved, "results.json")).read())["hypotheses"][0]["key"] == "x.h"


def test_a_failed_write_leaves_the_previous_set_whole(tmp_path) -> None:
    write_set(tmp_path, {"results.json": "old results", "report.html": "old page", "summary.md": "old summary"})
    with pytest.raises(TypeError):
        write_set(tmp_path, {"results.json": "new results", "report.html": None, "summary.md": "new summary"})  # type: ignore[dict-item]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "results.json", "summary.md"]
    assert [(tmp_path / n).read_text() for n in ("results.json", "report.html", "summary.md")] == [
        "old results", "old page", "old summary"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_are_written_with_the_users_umask(tmp_path, umask, mode) -> None:
    old = os.umask(umask)
    try:
        write_set(tmp_path, {"results.json": "{}"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == mode


def test_anything_else_json_cannot_hold_is_replaced_and_flagged() -> None:
    flags: list[str] = []
    safe = json_safe({"a": [1.0, float("inf")], "b": {"c": object.__new__(type("Odd", (), {}))}}, flags)
    json.dumps(safe, allow_nan=False)
    assert safe["a"] == [1.0, None] and flags[0] == "a[1]: inf replaced by null" and "a Odd written as text" in flags[1]


def test_a_heatmap_full_of_nan_is_flagged_briefly() -> None:
    entry = make_entry("map", [[float("nan")] * 64] * 64)
    assert len(entry["flags"]) == 6 and entry["flags"][-1] == "and 4091 more numbers replaced by null"
