"""Selections are first-class (issue #11 point 6): -k and node ids give a complete run of what
was selected, the gate compares what ran, and a baseline saved from a selection updates those
entries."""

from __future__ import annotations

import json

from mechtests.testing.suite import suite  # noqa: F401 - the fixture

SUITE = '''
import mechtests

@mechtests.hypothesis(expect={"arm": "holds", "mdm": "fails"})
def test_heads(subject):
    score = 0.9 if subject.kind == "arm" else SCORE
    mechtests.record("best score", score, threshold=0.4)
    assert score >= 0.4

@mechtests.hypothesis()
def test_previous_token(subject):
    mechtests.record("prev", 0.8)

@mechtests.hypothesis(expect={"pair": "holds"})
def test_overlap(pair):
    pass
'''


def write(suite, score: float = 0.1) -> None:
    suite.write(test_s=SUITE.replace("SCORE", str(score)))


def test_a_k_selection_against_a_full_baseline_exits_0_and_says_what_did_not_run(suite) -> None:
    write(suite)
    assert suite.run("--mech-save-baseline=full.json").ret == 0
    result = suite.run("-k", "previous_token", "--mech-baseline=full.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*no verdict changed against*full.json (2 result(s) compared)*",
        "*3 of 5 baseline result(s) were not run here (not selected or not collected): s.heads ?arm?, s.heads ?mdm?, s.overlap ?pair?*",
    ])
    results = suite.results()
    assert results["run"]["incomplete"] is False
    assert results["run"]["selection"] == {"selected": True, "not_selected": 3}
    assert suite.outcomes()["s.heads"] == {"arm": "not_selected", "mdm": "not_selected"}
    result.stdout.fnmatch_lines(["*s.heads*not selected*not selected*"])


def test_a_node_id_selection_against_a_full_baseline_exits_0(suite) -> None:
    write(suite)
    assert suite.run("--mech-save-baseline=full.json").ret == 0
    result = suite.run("test_s.py::test_overlap", "--mech-baseline=full.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*4 of 5 baseline result(s) were not run here*"])
    assert suite.results()["run"]["selection"]["selected"] is True


def test_a_selection_still_gates_what_it_ran(suite) -> None:
    write(suite)
    assert suite.run("--mech-save-baseline=full.json").ret == 0
    write(suite, score=0.8)
    result = suite.run("-k", "heads", "--mech-baseline=full.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*s.heads ?mdm?: fails -> holds"])


def test_saving_from_a_selection_updates_those_entries(suite) -> None:
    write(suite)
    assert suite.run("--mech-save-baseline=b.json").ret == 0
    write(suite, score=0.8)
    result = suite.run("-k", "heads", "--mech-save-baseline=b.json")
    result.stdout.fnmatch_lines(["*baseline updated: *b.json: 2 results of this selection replaced, 3 kept*"])
    cases = json.loads((suite.pytester.path / "b.json").read_text())["cases"]
    assert cases["s.heads [mdm]"]["outcome"] == "holds" and cases["s.overlap [pair]"]["outcome"] == "holds"
    assert len(cases) == 5


def test_saving_from_a_selection_without_a_baseline_saves_the_subset(suite) -> None:
    write(suite)
    result = suite.run("-k", "overlap", "--mech-save-baseline=b.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*baseline saved: *b.json holds only this selection's 1 results*"])
    assert list(json.loads((suite.pytester.path / "b.json").read_text())["cases"]) == ["s.overlap [pair]"]


def test_an_incomplete_run_saves_no_baseline(suite) -> None:
    write(suite, score=0.8)  # the mdm's heads hold against an expected fails: red, and -x stops there
    result = suite.run("-x", "--mech-save-baseline=b.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*not saving baseline *b.json: this run is incomplete*"])
    assert not (suite.pytester.path / "b.json").exists()
