"""Faults: errors are not failures, crashed workers and interrupted runs still leave a report."""

from __future__ import annotations

SUITE = '''
import os
import mechtests
import pytest


@mechtests.hypothesis(expect={"arm": "fails", "mdm": "fails"})
def test_raises(subject):
    raise ValueError("measurement broke")


@mechtests.hypothesis()
def test_asserts(subject):
    assert subject.kind == "arm"


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


@mechtests.hypothesis()
def test_fixture_error(subject, broken):
    pass


@mechtests.hypothesis()
def test_skips(subject):
    pytest.skip("not for this model")
'''


def test_an_exception_is_an_error_not_a_failed_hypothesis(suite) -> None:
    suite.write(test_f=SUITE)
    result = suite.run()
    assert result.ret == 1
    assert suite.outcomes() == {
        "f.asserts": {"arm": "holds", "mdm": "fails"},
        "f.fixture_error": {"arm": "error", "mdm": "error"},
        "f.raises": {"arm": "error", "mdm": "error"},  # expected to fail, but by assertion: still red
        "f.skips": {"arm": "not_applicable", "mdm": "not_applicable"},
    }
    res = {h["key"]: h["results"] for h in suite.results()["hypotheses"]}
    assert res["f.raises"]["mdm"]["message"] == "ValueError: measurement broke"
    assert res["f.raises"]["mdm"]["matched"] is False
    assert res["f.fixture_error"]["arm"]["message"] == "RuntimeError: fixture broke"
    assert res["f.skips"]["arm"]["matched"] is None


def test_a_missing_checkpoint_is_one_line_per_test(pytester) -> None:
    """Given on the command line (a pair table's missing checkpoint stops the run before any test,
    tests/reliability/test_run_inputs.py)."""
    pytester.makepyprojecttoml('[tool.mechtests]\n')
    pytester.makepyfile(test_m="def test_m(subject):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--arm=nope/arm", "--mdm=nope/mdm")
    assert result.ret == 1
    out = result.stdout.str()
    assert "MechtestsError: " in out and "nope/arm" in out
    assert "Traceback" not in out and "mechtests/models" not in out


def test_a_crashed_worker_leaves_the_other_results_and_marks_its_test(suite) -> None:
    suite.write(test_c='''
import os
import mechtests

@mechtests.hypothesis()
def test_fine(subject):
    pass

@mechtests.hypothesis()
def test_dies(subject):
    if subject.kind == "mdm":
        os._exit(3)
''')
    result = suite.run("-n", "2")
    assert result.ret == 1
    assert suite.outcomes() == {"c.dies": {"arm": "holds", "mdm": "error"}, "c.fine": {"arm": "holds", "mdm": "holds"}}
    dies = suite.results()["hypotheses"][0]["results"]["mdm"]
    assert dies["message"].startswith("worker crashed while running this test")


def test_stopping_early_writes_a_report_marked_incomplete(suite) -> None:
    suite.write(test_x='''
import mechtests

@mechtests.hypothesis()
def test_a_first(subject):
    assert False, "stop here"

@mechtests.hypothesis()
def test_b_second(subject):
    pass
''')
    result = suite.run("-x")
    assert result.ret == 1
    results = suite.results()
    assert results["run"]["incomplete"] is True
    assert suite.outcomes() == {"x.a_first": {"arm": "fails", "mdm": "error"},
                                "x.b_second": {"arm": "error", "mdm": "error"}}
    not_run = suite.results()["hypotheses"][1]["results"]["arm"]
    assert not_run["message"] == "not run: the run stopped before this test" and not_run["matched"] is False
    result.stdout.fnmatch_lines(["*INCOMPLETE run*"])
    assert "incomplete" in (suite.reports / "report.html").read_text()


def test_a_keyboard_interrupt_writes_a_report_marked_incomplete(suite) -> None:
    suite.write(test_k='''
import mechtests

@mechtests.hypothesis()
def test_a(subject):
    pass

@mechtests.hypothesis()
def test_b(subject):
    raise KeyboardInterrupt
''')
    result = suite.run()
    assert result.ret == 2
    assert suite.results()["run"]["incomplete"] is True
    assert suite.outcomes()["k.a"] == {"arm": "holds", "mdm": "holds"}
