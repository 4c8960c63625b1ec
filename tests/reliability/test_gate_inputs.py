"""The gate's inputs and exit codes (issue #11 point 7): a changed verdict is 1; a bad or
incompatible input is 2 with one line; other weights are noted; version 1 files still gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mechtests.cli import main as cli_main
from mechtests.testing.suite import suite  # noqa: F401 - the fixture

DATA = Path(__file__).parent.parent / "plugin" / "data"
V1_SUITE = (DATA / "fake_suite_v1.py").read_text()  # the suite the version 1 files were saved from, by the old code


def compare(capsys, *args: str) -> tuple[int, str, str]:
    code = cli_main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def baseline(tmp_path: Path, cases: dict, **run) -> Path:
    path = tmp_path / f"b{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps({"schema": "mechtests-baseline", "schema_version": 2,
                                "run": {"seed": 0, "models": {}, **run}, "cases": cases}))
    return path


def case(outcome: str, **metrics: float) -> dict:
    return {"outcome": outcome, "metrics": metrics}


def test_a_version_1_baseline_saved_by_the_old_code_still_gates(suite) -> None:
    suite.write(test_v1=V1_SUITE)
    (suite.pytester.path / "b.json").write_text((DATA / "fake_baseline_v1.json").read_text())
    result = suite.run("--mech-baseline=b.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*no verdict changed against*b.json (4 result(s) compared)*",
                                 "*1 result(s) not compared (not applicable in one of the runs): v1.only_arm ?mdm?*"])
    suite.write(test_v1=V1_SUITE.replace("else 0.1", "else 0.8"))  # the mdm's heads appear
    changed = suite.run("--mech-baseline=b.json")
    assert changed.ret == 1
    changed.stdout.fnmatch_lines(["*v1.heads ?mdm?: fails -> holds"])


def test_a_version_1_results_file_still_gates_offline(tmp_path, capsys) -> None:
    new = json.loads((DATA / "fake_results_v1.json").read_text())
    new["hypotheses"][0]["results"]["mdm"]["outcome"] = "holds"
    (tmp_path / "new.json").write_text(json.dumps(new))
    code, out, _ = compare(capsys, DATA / "fake_baseline_v1.json", tmp_path / "new.json")
    assert code == 1 and "v1.heads [mdm]: fails -> holds" in out


@pytest.mark.parametrize(("content", "message"), [
    ('{"schema": "mechtests-results", "schema_version": 7}', "has schema_version 7; this mechtests reads results versions 1, 2"),
    ("", "cannot read baseline file"),
    ('"text"', "its JSON is not an object"),
    ('{"schema": "mechtests-baseline", "schema_version": 2, "run": {}}', "is a damaged baseline (KeyError: 'cases')"),
])
def test_a_bad_input_is_exit_2_in_one_line(tmp_path, capsys, content, message) -> None:
    (tmp_path / "bad.json").write_text(content)
    code, _, err = compare(capsys, tmp_path / "bad.json", DATA / "new_results.json")
    assert code == 2
    assert err.startswith("mechtests compare: error: ") and err.count("\n") == 1 and message in err


def test_no_overlap_at_all_is_an_error(tmp_path, capsys) -> None:
    old = baseline(tmp_path, {"a [arm]": case("holds")})
    new = baseline(tmp_path, {"b [arm]": case("holds")})
    code, _, err = compare(capsys, old, new)
    assert code == 2 and "have no judged result in common" in err


def test_nothing_judged_in_common_is_an_error(tmp_path, capsys) -> None:
    old = baseline(tmp_path, {"a [pair]": case("holds")})
    new = baseline(tmp_path, {"a [pair]": case("not_applicable")})
    assert compare(capsys, old, new)[0] == 2


def test_into_inconclusive_is_a_warning_unless_strict(tmp_path, capsys) -> None:
    old = baseline(tmp_path, {"a [arm]": case("holds"), "b [arm]": case("fails")})
    new = baseline(tmp_path, {"a [arm]": case("inconclusive"), "b [arm]": case("fails")})
    code, out, _ = compare(capsys, old, new)
    assert code == 0 and "1 verdict(s) moved into or out of inconclusive (warning" in out
    assert compare(capsys, old, new, "--strict")[0] == 1


def test_into_error_is_a_change(tmp_path, capsys) -> None:
    old = baseline(tmp_path, {"a [arm]": case("fails")})
    new = baseline(tmp_path, {"a [arm]": case("error")})
    code, out, _ = compare(capsys, old, new)
    assert code == 1 and "a [arm]: fails -> error" in out


def test_other_weights_are_noted_not_refused(tmp_path, capsys) -> None:
    old = baseline(tmp_path, {"a [mdm]": case("holds")}, models={"mdm": {"weights_sha256": "1" * 64}})
    new = baseline(tmp_path, {"a [mdm]": case("holds")}, models={"mdm": {"weights_sha256": "2" * 64}})
    code, out, _ = compare(capsys, old, new)
    assert code == 0 and "note: the baseline's mdm has other weights (sha256 111111111111, this run 222222222222)" in out


def test_a_non_finite_metric_does_not_break_the_gate(tmp_path, capsys) -> None:
    old = baseline(tmp_path, {"a [arm]": case("holds", score=None)})
    new = baseline(tmp_path, {"a [arm]": case("holds", score=0.5)})
    assert compare(capsys, old, new)[0] == 0


def test_a_baseline_with_nothing_in_common_fails_the_pytest_run_with_exit_2(suite, tmp_path) -> None:
    suite.write(test_s="import mechtests\n\n@mechtests.hypothesis()\ndef test_h(subject):\n    pass\n")
    (suite.pytester.path / "b.json").write_text(json.dumps({
        "schema": "mechtests-baseline", "schema_version": 2, "run": {}, "cases": {"other [arm]": case("holds")}}))
    result = suite.run("--mech-baseline=b.json")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["mechtests: --mech-baseline: the baseline and this run have no judged result in common*"])
    assert suite.results()["baseline"]["error"].startswith("the baseline and this run have no judged result in common")
    assert (suite.reports / "report.html").is_file()
