"""The report agrees with the run (issue #27 point 2): a run stopped by a usage error writes no
report, and what the report says can be pasted back into pytest."""

from __future__ import annotations

import shlex

import pytest

from mechtests.testing.suite import suite  # noqa: F401 - the fixture

TWO = '''
import mechtests

@mechtests.hypothesis(id="same")
def test_a(subject):
    pass

@mechtests.hypothesis(id="other")
def test_b(subject):
    pass
'''


@pytest.mark.parametrize("workers", [["-n", "0"], ["-p", "xdist", "-n", "2"]], ids=["inline", "xdist"])
def test_a_duplicate_hypothesis_id_stops_the_run_and_leaves_the_reports_alone(suite, workers) -> None:
    """Under -n 2 the workers find it while collecting; the controller stops the run with their
    line (it was an INTERNALERROR, exit 3, once xdist had scheduled the tests)."""
    suite.write(test_s=TWO)
    assert suite.run().ret == 0
    before = {p.name: p.read_bytes() for p in suite.reports.iterdir()}
    suite.write(test_t='import mechtests\n\n@mechtests.hypothesis(id="same")\ndef test_c(subject):\n    pass\n')
    result = suite.run(*workers)
    assert result.ret == 4, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert errors == ["ERROR: mechtests: hypothesis id 'same' [arm] is used by both test_s.py::test_a[arm] and "
                      "test_t.py::test_c[arm]; give one of them @mechtests.hypothesis(id=...)"], result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "passed" not in result.stdout.str()
    assert {p.name: p.read_bytes() for p in suite.reports.iterdir()} == before


def test_a_deselected_result_under_xdist_reruns_without_the_group_suffix(suite) -> None:
    suite.write(test_s=TWO)
    result = suite.run("-p", "xdist", "-n", "2", "-k", "test_a")
    assert result.ret == 0, result.stdout.str()
    results = {h["key"]: h["results"] for h in suite.results()["hypotheses"]}
    deselected = results["other"]["arm"]
    assert deselected["outcome"] == "not_selected"
    assert "@" not in deselected["rerun"] and "@" not in deselected["nodeid"]
    assert shlex.split(deselected["rerun"])[:2] == ["pytest", "test_s.py::test_b[arm]"]
    assert suite.pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_s.py::test_b[arm]").ret == 0
