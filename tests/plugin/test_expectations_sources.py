"""Where a run's expectations come from (mechtests.claims.expectations): a pair table's own,
inline or in a file; a file --mech-save-expectations wrote, read back with --mech-expect=FILE;
none (discovery). Each runs the fake pair in a pytest subprocess (mechtests.testing.suite)."""

from __future__ import annotations

import pytest

from mechtests.claims.expectations import read_file
from mechtests.testing.suite import PYPROJECT

# h.heads: holds on the ARM, fails on the MDM, though its own expect= says holds on both.
# h.ratio: inconclusive on both models (its own expect=: holds). h.overlap: a pair-level claim that holds.
SUITE = '''
import mechtests
from mechtests.claims.outcomes import Inconclusive


@mechtests.hypothesis(claim="heads exist", expect={"arm": "holds", "mdm": "holds"})
def test_heads(subject):
    value = 0.9 if subject.kind == "arm" else 0.1
    mechtests.record("best score", value, threshold=0.4)
    assert value >= 0.4, "no head above threshold"


@mechtests.hypothesis(claim="a ratio clears 2")
def test_ratio(subject):
    raise Inconclusive("ratio [1.5, 2.5] straddles 2")


@mechtests.hypothesis(claim="the circuits overlap", expect={"pair": "holds"})
def test_overlap(pair):
    pass
'''
OWN_OUTCOMES = {"h.heads": {"arm": "holds", "mdm": "fails"}, "h.ratio": {"arm": "inconclusive", "mdm": "inconclusive"},
                "h.overlap": {"pair": "holds"}}


def with_pair_table(suite, extra: str) -> None:
    """The fake pair's table, with `extra` lines (its expect) appended."""
    suite.pytester.makepyprojecttoml(PYPROJECT + extra)
    suite.write(test_h=SUITE)


def expectations_of_results(suite) -> dict[str, dict[str, str | None]]:
    return {h["key"]: {m: r["expected"] for m, r in h["results"].items()} for h in suite.results()["hypotheses"]}


def test_own_expectations_make_the_failing_mdm_red(suite) -> None:
    """The baseline the pair's expectations change: each hypothesis's own expect= (auto, no pair table)."""
    suite.write(test_h=SUITE)
    result = suite.run()
    assert result.ret == 1
    assert suite.outcomes() == OWN_OUTCOMES
    assert suite.results()["run"]["expectations"] == {"source": "hypotheses", "file": None, "pair": None, "unmatched": []}
    assert "- expectations: each hypothesis's own expect=" in (suite.reports / "summary.md").read_text()


def test_an_inline_pair_table_replaces_the_hypotheses_own(suite) -> None:
    with_pair_table(suite, '[tool.mechtests.pairs.fake.expect]\n"h.heads" = {arm = "holds", mdm = "fails"}\n'
                           '"h.ratio" = {arm = "inconclusive", mdm = "inconclusive"}\n"h.overlap" = {pair = "holds"}\n')
    result = suite.run()
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2, xfailed=3)
    run = suite.results()["run"]
    assert run["expectations"] == {"source": "pair", "file": None, "pair": "fake", "unmatched": []}
    assert suite.results()["totals"]["matched"] == 5
    assert "expectations pair fake&#x27;s table in pyproject.toml" in (suite.reports / "report.html").read_text()
    result.stdout.fnmatch_lines(["*5 as expected, 0 not*; expectations: pair fake's table in pyproject.toml"])


def test_a_pair_file_judges_what_it_names_and_reports_the_rest_without_expectation(suite) -> None:
    """A hypothesis the pair's file leaves out has no expectation: its verdict is reported,
    never red, and never judged against the bundled pair's expect=."""
    suite.pytester.path.joinpath("expect").mkdir()
    suite.pytester.path.joinpath("expect", "fake.toml").write_text('"h.heads" = {arm = "holds", mdm = "fails"}\n')
    with_pair_table(suite, 'expect = "expect/fake.toml"\n')
    result = suite.run()
    assert result.ret == 0, result.stdout.str()
    assert expectations_of_results(suite) == {"h.heads": {"arm": "holds", "mdm": "fails"},
                                              "h.ratio": {"arm": None, "mdm": None}, "h.overlap": {"pair": None}}
    ratio = suite.results()["hypotheses"][2]["results"]["arm"]
    assert (ratio["outcome"], ratio["grade"], ratio["matched"]) == ("inconclusive", "reported", None)
    assert suite.results()["run"]["expectations"]["file"] == "expect/fake.toml"
    result.stdout.fnmatch_lines(["*2 as expected, 0 not, 3 without expectation*; expectations: pair fake's expect/fake.toml"])


def test_saved_verdicts_read_back_with_mech_expect_file_are_all_as_expected(suite) -> None:
    suite.write(test_h=SUITE)
    saved = suite.pytester.path / "saved.toml"
    first = suite.run("--mech-save-expectations", "saved.toml")
    assert first.ret == 1  # against the hypotheses' own: the MDM's heads fail
    first.stdout.fnmatch_lines([f"expectations saved: {saved}: 5 verdicts"])
    assert read_file(saved, "test") == OWN_OUTCOMES  # inconclusive is an expectation too
    again = suite.run("--mech-expect=saved.toml")
    assert again.ret == 0, again.stdout.str()
    results = suite.results()
    assert results["run"]["expectations"]["source"] == "file"
    assert all(r["matched"] is True for h in results["hypotheses"] for r in h["results"].values())
    assert results["totals"]["matched"] == 5


def test_a_saved_file_works_as_the_pair_tables_expect(suite) -> None:
    suite.write(test_h=SUITE)
    assert suite.run("--mech-save-expectations", "pair-expect.toml").ret == 1
    with_pair_table(suite, 'expect = "pair-expect.toml"\n')
    assert suite.run().ret == 0


def test_discovery_reports_every_verdict_and_exits_0(suite) -> None:
    suite.write(test_h=SUITE)
    result = suite.run("--mech-expect=none")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=5)  # no xfail, no failure: nothing is expected
    assert suite.outcomes() == OWN_OUTCOMES
    results = suite.results()
    assert results["run"]["expectations"]["source"] == "none"
    assert {r["grade"] for h in results["hypotheses"] for r in h["results"].values()} == {"reported"}
    assert (results["totals"]["matched"], results["totals"]["mismatched"]) == (0, 0)
    summary = (suite.reports / "summary.md").read_text()
    assert "- expectations: none (discovery: verdicts reported, not judged)" in summary
    assert "fails (expected" not in summary and "| 🔎 fails |" in summary


def test_discovery_still_fails_on_an_error(suite) -> None:
    suite.write(test_h=SUITE + '\n\n@mechtests.hypothesis(claim="broken")\ndef test_broken(subject):\n'
                               '    raise RuntimeError("the measurement broke")\n')
    result = suite.run("--mech-expect=none")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*mechtests: hypothesis 'h.broken' on arm: no expectation, got error*"])
    assert suite.outcomes()["h.broken"] == {"arm": "error", "mdm": "error"}


@pytest.mark.parametrize("table, problem", [
    ('[tool.mechtests.pairs.fake.expect]\n"h.heads" = {arm = "hold"}\n',
     "[tool.mechtests.pairs.fake] expect 'h.heads' arm = 'hold' is not a verdict; write one of holds, fails, inconclusive"),
    ('[tool.mechtests.pairs.fake.expect]\nh.heads = {arm = "holds"}\n',
     "[tool.mechtests.pairs.fake] expect 'h' holds tables (heads): an unquoted dotted id; quote the id: \"h.heads\" = "),
    ('expect = "missing.toml"\n', "[tool.mechtests.pairs.fake] expect: expectations file "),
])
def test_a_bad_pair_table_expect_is_a_one_line_usage_error(suite, table, problem) -> None:
    with_pair_table(suite, table)
    assert problem in suite.usage_error()


def test_a_bad_verdict_in_a_mech_expect_file_is_a_one_line_usage_error(suite) -> None:
    suite.write(test_h=SUITE)
    (suite.pytester.path / "bad.toml").write_text('"h.heads" = {mdm = "flaky"}\n')
    line = suite.usage_error("--mech-expect=bad.toml")
    assert "--mech-expect=bad.toml (" in line and "'h.heads' mdm = 'flaky' is not a verdict; write one of holds" in line


def test_an_entry_that_names_no_result_is_reported_not_an_error(suite) -> None:
    (suite.pytester.path / "typo.toml").write_text('"h.heads" = {arm = "holds", mdm = "fails"}\n"h.haeds" = {arm = "holds"}\n')
    suite.write(test_h=SUITE)
    result = suite.run("--mech-expect=typo.toml")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["could not match 1 expectation(s) to a result of this run*: h.haeds [[]arm[]]"])
    assert suite.results()["run"]["expectations"]["unmatched"] == ["h.haeds [arm]"]
