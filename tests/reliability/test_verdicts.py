"""Fails means the claim failed (issue #11 point 10), and every other outcome is named for what it is.

Each case runs a small suite on the fake pair in a pytest subprocess and checks both the
outcome written to results.json and what pytest made of it (the exit status, passed/xfailed/
failed/skipped, warnings).
"""

from __future__ import annotations

import pytest

from mechtests.testing.suite import suite  # noqa: F401 - the fixture

HEADER = "import math\nimport numpy as np\nimport pytest\nimport mechtests\nfrom mechtests.claims import outcomes\n"


def one(suite, body: str, *args: str, **files: str):  # noqa: ANN201 - a RunResult
    suite.write(test_v=HEADER + body, **files)
    result = suite.run(*args)
    res = suite.results()["hypotheses"][0]["results"]
    return result, res


@pytest.mark.parametrize("check", ["np.testing.assert_allclose(np.ones(3), np.zeros(3))",
                                   "torch.testing.assert_close(torch.ones(3), torch.zeros(3))"])
def test_a_testing_library_assertion_called_by_the_suite_is_its_own_check(suite, check) -> None:
    """numpy.testing and torch.testing raise AssertionError inside themselves, but their functions
    are assertions: called directly from the hypothesis's code they are its own check, so a
    failed comparison is `fails` (issue #27), as a plain `assert` would be. (This test expected
    error before: a library's AssertionError could not be told from a broken measurement.)"""
    result, res = one(suite, f'''
import torch

@mechtests.hypothesis(expect={{"arm": "fails", "mdm": "fails"}})
def test_lib(subject):
    {check}
''')
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(xfailed=2)
    assert res["arm"]["outcome"] == "fails" and res["arm"]["matched"] is True


def test_a_testing_library_assertion_inside_other_library_code_is_an_error(suite) -> None:
    """The same numpy.testing call made by installed code the suite called is not the suite's
    check: the measurement broke, the claim was not judged."""
    library = suite.pytester.mkdir("vendor").joinpath("site-packages")
    library.mkdir()
    library.joinpath("helper.py").write_text("import numpy as np\n\ndef measure():\n    np.testing.assert_allclose(np.ones(3), np.zeros(3))\n")
    result, res = one(suite, f'''
import sys
sys.path.insert(0, {str(library)!r})
import helper

@mechtests.hypothesis(expect={{"arm": "fails", "mdm": "fails"}})
def test_lib(subject):
    helper.measure()
''')
    assert result.ret == 1
    result.assert_outcomes(failed=2)
    assert res["arm"]["outcome"] == "error" and res["arm"]["grade"] == "error" and res["arm"]["matched"] is False
    assert "not by the hypothesis's own code" in res["arm"]["message"] and "numpy" in res["arm"]["message"]


def test_a_mechtests_assertion_is_an_error_too(suite) -> None:
    result, res = one(suite, '''
import mechtests.claims.outcomes as o

@mechtests.hypothesis(expect={"pair": "fails"})
def test_inside():
    o.judge("x", 0.5, 0.6, 0.4)  # fine
    exec(compile("raise AssertionError('deep inside')", o.__file__, "exec"))
''')
    assert result.ret == 1
    assert res["pair"]["outcome"] == "error"


def test_a_nan_thresholded_statistic_is_an_error_even_when_fails_is_expected(suite) -> None:
    result, res = one(suite, '''
@mechtests.hypothesis(expect={"arm": "fails", "mdm": "fails"})
def test_nan(subject):
    score = float("nan")
    mechtests.record("best score", score, threshold=0.4)
    assert score >= 0.4
''')
    assert result.ret == 1
    result.assert_outcomes(failed=2)
    assert res["mdm"]["outcome"] == "error"
    assert res["mdm"]["message"].startswith("thresholded statistic 'best score' is not a finite number")
    result.stdout.fnmatch_lines(["*why: thresholded statistic 'best score' is not a finite number*"])


def test_a_nan_interval_under_a_passing_assertion_is_an_error(suite) -> None:
    result, res = one(suite, '''
@mechtests.hypothesis()
def test_nan_ci(subject):
    mechtests.record("ratio", 2.5, ci=(float("nan"), float("inf")), threshold=2.0)
    assert not (2.5 < 2.0)
''')
    assert result.ret == 1
    assert res["arm"]["outcome"] == "error"
    result.stdout.fnmatch_lines(["*mechtests: thresholded statistic 'ratio' is not a finite number*ci lo: nan*"])


def test_an_assertion_in_a_helper_under_the_suite_folder_is_a_failed_claim(suite) -> None:
    result, res = one(suite, '''
from helpers import check_above

@mechtests.hypothesis(expect={"arm": "holds", "mdm": "fails"})
def test_helper(subject):
    check_above(0.9 if subject.kind == "arm" else 0.1, 0.4)
''', helpers="def check_above(value, bar):\n    assert value >= bar, f'{value} < {bar}'\n")
    assert result.ret == 0
    result.assert_outcomes(passed=1, xfailed=1)
    assert res["mdm"]["outcome"] == "fails"


def test_claim_failed_from_a_fixture_is_fails(suite) -> None:
    result, res = one(suite, '''
@pytest.fixture
def verdict(subject):
    if subject.kind == "mdm":
        raise outcomes.ClaimFailed("the mdm's circuit is gone")

@mechtests.hypothesis(expect={"arm": "holds", "mdm": "fails"})
def test_fixture_claim(subject, verdict):
    pass
''')
    assert result.ret == 0
    result.assert_outcomes(passed=1, xfailed=1)
    assert res["mdm"]["outcome"] == "fails" and "circuit is gone" in res["mdm"]["message"]


def test_not_applicable_from_a_fixture_is_skipped_with_its_reason(suite) -> None:
    result, res = one(suite, '''
@pytest.fixture
def pool():
    raise outcomes.NotApplicable("the countdown pool holds 3 examples, the budget needs 50")

@mechtests.hypothesis(expect={"pair": "holds"})
def test_needs_pool(pool):
    pass
''', "-rs")
    assert result.ret == 0
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*not applicable: the countdown pool holds 3 examples*"])
    assert res["pair"]["outcome"] == "not_applicable" and res["pair"]["matched"] is None
    assert suite.results()["run"]["incomplete"] is False


INCONCLUSIVE = '''
@mechtests.hypothesis(expect={"pair": "%s"})
def test_straddles():
    parts = outcomes.Parts()
    parts.check("ioi: ratio", 1.4, 2.6, 2.0, value=2.1)
    mechtests.record("ioi: ratio", 2.1, ci=(1.4, 2.6), threshold=2.0)
    parts.conclude()
'''


def test_inconclusive_against_holds_is_a_warning_and_red_under_strict(suite) -> None:
    result, res = one(suite, INCONCLUSIVE % "holds")
    assert result.ret == 0
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*MechtestsWarning: hypothesis 'v.straddles' on pair: inconclusive, expected holds*"])
    assert (res["pair"]["outcome"], res["pair"]["grade"]) == ("inconclusive", "warning")
    strict = suite.run("--mech-strict")
    assert strict.ret == 1
    strict.assert_outcomes(failed=1)
    assert suite.results()["hypotheses"][0]["results"]["pair"]["grade"] == "mismatch"
    assert suite.results()["run"]["strict"] is True


def test_an_expected_inconclusive_is_green(suite) -> None:
    result, res = one(suite, INCONCLUSIVE % "inconclusive")
    assert result.ret == 0
    result.assert_outcomes(xfailed=1)
    assert (res["pair"]["outcome"], res["pair"]["matched"]) == ("inconclusive", True)


def test_a_non_finite_interval_in_judge_is_an_error(suite) -> None:
    result, res = one(suite, '''
@mechtests.hypothesis(expect={"pair": "fails"})
def test_judged():
    outcomes.judge("edge jaccard", float("nan"), 0.3, 0.5)
''')
    assert result.ret == 1
    assert res["pair"]["outcome"] == "error" and res["pair"]["message"].startswith("mechtests.claims.outcomes.MeasurementError")
