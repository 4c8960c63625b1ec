"""The regression gate: a changed verdict fails the session and names the hypothesis."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mechtests.cli import main as cli_main
from mechtests.reports import gate

DATA = Path(__file__).parent / "data"


def suite_with(mdm_score: float, arm_metric: float = 0.9) -> str:
    return f'''
import mechtests


@mechtests.hypothesis(expect={{"arm": "holds", "mdm": "holds"}})
def test_induction(subject):
    score = {arm_metric} if subject.kind == "arm" else {mdm_score}
    mechtests.record("best score", score, threshold=0.4)
    assert score >= 0.4


@mechtests.hypothesis()
def test_stable(subject):
    mechtests.record("steady", 1.0)
'''


def test_a_changed_verdict_fails_the_session_and_is_named(suite) -> None:
    suite.write(test_s=suite_with(0.8))
    saved = suite.run("--mech-save-baseline", "baseline.json")
    assert saved.ret == 0
    baseline = json.loads((suite.pytester.path / "baseline.json").read_text())
    assert baseline["cases"]["s.induction [mdm]"] == {"outcome": "holds", "metrics": {"best score": 0.8}}

    # The same checkpoint again: green, nothing changed.
    same = suite.run("--mech-baseline", "baseline.json")
    assert same.ret == 0
    same.stdout.fnmatch_lines(["*no verdict changed against*baseline.json*"])

    # A new MDM checkpoint on which the hypothesis no longer holds. Its expectation is left
    # as it was, so the test fails too; the gate names the hypothesis either way.
    suite.write(test_s=suite_with(0.1))
    changed = suite.run("--mech-baseline", "baseline.json")
    assert changed.ret == 1
    changed.stdout.fnmatch_lines([
        "*1 verdict(s) changed against*baseline.json:",
        "*s.induction [[]mdm[]]: holds -> fails",
    ])
    assert suite.results()["baseline"]["changed"] == [{"case": "s.induction [mdm]", "old": "holds", "new": "fails"}]


def test_the_gate_fails_even_when_the_expectation_was_updated(suite) -> None:
    suite.write(test_s=suite_with(0.8))
    assert suite.run("--mech-save-baseline", "baseline.json").ret == 0
    suite.write(test_s=suite_with(0.1).replace('"mdm": "holds"', '"mdm": "fails"'))
    result = suite.run("--mech-baseline", "baseline.json")
    result.assert_outcomes(passed=3, xfailed=1)  # every test is green ...
    assert result.ret == 1  # ... but the verdict moved
    result.stdout.fnmatch_lines(["*s.induction [[]mdm[]]: holds -> fails"])


def test_metric_drift_is_reported_but_does_not_fail(suite) -> None:
    suite.write(test_s=suite_with(0.8))
    assert suite.run("--mech-save-baseline", "baseline.json").ret == 0
    suite.write(test_s=suite_with(0.8, arm_metric=0.5))
    result = suite.run("--mech-baseline", "baseline.json", "--mech-tolerance", "10%")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*1 metric(s) drifted beyond 10% (warning):", "*s.induction [[]arm[]] best score: 0.9 -> 0.5*"])
    assert suite.run("--mech-baseline", "baseline.json", "--mech-tolerance", "0.5").ret == 0


def test_a_missing_baseline_file_is_a_usage_error(suite) -> None:
    suite.write(test_s=suite_with(0.8))
    result = suite.run("--mech-baseline", "nope.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--mech-baseline: *nope.json does not exist; create it with --mech-save-baseline nope.json*"])


# --- mechtests compare, offline, against committed files -------------------------------------------
def test_compare_command_flags_changed_verdicts(capsys) -> None:
    assert cli_main(["compare", str(DATA / "old_results.json"), str(DATA / "old_results.json")]) == 0
    assert cli_main(["compare", str(DATA / "old_results.json"), str(DATA / "new_results.json")]) == 1
    out = capsys.readouterr().out
    assert "1 verdict(s) changed" in out and "overlap[ioi] [mdm]: holds -> fails" in out
    assert "overlap[ioi] [arm] score: 0.8 -> 0.6 (beyond 10%)" in out


def test_compare_reads_baselines_and_results_alike(tmp_path, capsys) -> None:
    baseline = gate.baseline_from_results(json.loads((DATA / "old_results.json").read_text()))
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    assert cli_main(["compare", str(tmp_path / "baseline.json"), str(DATA / "new_results.json"), "--tolerance", "0.5"]) == 1
    assert "drifted" not in capsys.readouterr().out


def test_compare_errors_are_one_line(tmp_path, capsys) -> None:
    (tmp_path / "x.json").write_text("{}")
    assert cli_main(["compare", str(tmp_path / "x.json"), str(DATA / "new_results.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mechtests compare: error:") and "\n" not in err
    shutil.rmtree(tmp_path)
