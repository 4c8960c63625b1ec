"""Expectations map onto strict xfail: a run that matches what is known is green, a change is red."""

from __future__ import annotations

import pytest


def suite_with(mdm_value: float, expect_mdm: str) -> str:
    return f'''
import mechtests


@mechtests.hypothesis(claim="heads exist", expect={{"arm": "holds", "mdm": "{expect_mdm}"}})
def test_heads(subject):
    value = 0.9 if subject.kind == "arm" else {mdm_value}
    mechtests.record("best score", value, threshold=0.4)
    assert value >= 0.4, "no head above threshold"
'''


def test_expected_failure_that_fails_is_green(suite) -> None:
    suite.write(test_h=suite_with(0.1, "fails"))
    result = suite.run()
    assert result.ret == 0
    result.assert_outcomes(passed=1, xfailed=1)
    res = suite.results()["hypotheses"][0]["results"]["mdm"]
    assert (res["outcome"], res["expected"], res["matched"]) == ("fails", "fails", True)


def test_expected_failure_that_holds_is_red_and_says_the_mechanism_appeared(suite) -> None:
    suite.write(test_h=suite_with(0.7, "fails"))
    result = suite.run()
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*XPASS(strict)*'h.heads' was expected to fail on mdm but holds*",
        "*best score = 0.7 vs threshold 0.4*",
        "*seed: 0*",
        "*rerun: pytest 'test_h.py::test_heads?mdm?' --mech-seed 0*",
    ])
    res = suite.results()["hypotheses"][0]["results"]["mdm"]
    assert (res["outcome"], res["expected"], res["matched"]) == ("holds", "fails", False)


def test_unexpected_failure_shows_model_value_threshold_seed_and_rerun_command(suite) -> None:
    suite.write(test_h=suite_with(0.1, "holds"))
    result = suite.run("--mech-seed", "5")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*AssertionError: no head above threshold*",
        "*mechtests: hypothesis 'h.heads' on mdm: expected holds, got fails*",
        "*claim: heads exist*",
        "*best score = 0.1 vs threshold 0.4*",
        "*seed: 5*",
        "*rerun: pytest 'test_h.py::test_heads?mdm?' --mech-seed 5*",
    ])
    assert suite.outcomes() == {"h.heads": {"arm": "holds", "mdm": "fails"}}


def test_rerun_command_reruns_just_that_case(suite) -> None:
    suite.write(test_h=suite_with(0.1, "holds"))
    command = suite.run().stdout.str().split("rerun: ")[1].splitlines()[0]
    args = command.split(" ", 1)[1].replace("'", "").split()
    result = suite.run(*args)
    result.assert_outcomes(failed=1)
    assert suite.outcomes() == {"h.heads": {"mdm": "fails"}}


@pytest.mark.parametrize("expect", ['{"pair": "holds"}', '{"arm": "sometimes"}'])
def test_expectations_that_do_not_fit_are_errors(suite, expect) -> None:
    suite.write(test_h=f'''
import mechtests

@mechtests.hypothesis(expect={expect})
def test_x(subject):
    pass
''')
    result = suite.run()
    assert result.ret != 0
    if "pair" in expect:  # a per-model test with a pair expectation: an error of that test
        result.stdout.fnmatch_lines(["*takes `subject` (one run per model) but expect has 'pair'*"])
        assert suite.outcomes() == {"h.x": {"arm": "error", "mdm": "error"}}
    else:  # a bad verdict: the decorator refuses at import
        assert "expect['arm'] is 'sometimes'; use one of ('holds', 'fails', 'inconclusive')" in result.stdout.str()


def test_duplicate_hypothesis_ids_are_a_usage_error(suite) -> None:
    body = "import mechtests\n\n@mechtests.hypothesis(id='same')\ndef test_{}(subject):\n    pass\n"
    suite.write(test_a=body.format("a"), test_b=body.format("b"))
    result = suite.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*hypothesis id 'same' [[]arm[]] is used by both test_a.py::test_a[[]arm[]] and test_b.py::test_b[[]arm[]]*"])


def test_a_copied_suite_file_gets_its_own_ids(suite) -> None:
    """Copying a hypothesis file and changing its claim adds a hypothesis; nothing else to edit."""
    body = "import mechtests\n\n@mechtests.hypothesis(claim={!r})\ndef test_heads(subject):\n    pass\n"
    suite.write(test_heads=body.format("original"), test_heads_copy=body.format("the copy"))
    assert suite.run().ret == 0
    claims = {h["id"]: h["claim"] for h in suite.results()["hypotheses"]}
    assert claims == {"heads.heads": "original", "heads_copy.heads": "the copy"}
