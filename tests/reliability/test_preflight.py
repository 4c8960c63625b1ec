"""Validate before running (issue #11 point 4): a bad option is a one-line usage error (exit 4)
naming the fix, found before any test runs; here the one test would fail if it ran."""

from __future__ import annotations

import json

import pytest

from mechtests.testing.suite import suite  # noqa: F401 - the fixture

NEVER_RUNS = "import mechtests\n\n@mechtests.hypothesis()\ndef test_h(subject):\n    raise SystemExit('ran')\n"


def usage_error(suite, *args: str) -> str:
    """A suite whose one test must never run, run with `args`: the one usage-error line."""
    suite.write(test_h=NEVER_RUNS)
    return suite.usage_error(*args)


def test_a_report_folder_that_is_a_file(suite) -> None:
    (suite.pytester.path / "out").write_text("not a folder")
    line = usage_error(suite, "--mech-report=out")
    assert "--mech-report: " in line and "out is a file" in line and "pass a folder path" in line


def test_a_report_folder_below_a_file(suite) -> None:
    (suite.pytester.path / "out").write_text("x")
    assert "out is a file, so" in usage_error(suite, "--mech-report=out/sub")


def test_an_unwritable_report_folder(suite) -> None:
    line = usage_error(suite, "--mech-report=/proc/mechtests-reports")  # even root cannot create folders in /proc
    assert "--mech-report: cannot write into /proc" in line and "pass a folder you can write to" in line


def test_a_report_file_name_taken_by_a_folder(suite) -> None:
    (suite.pytester.path / "reports" / "results.json").mkdir(parents=True)
    assert "results.json is a folder, where the report writes a file" in usage_error(suite)


def test_a_pyproject_report_key_is_named_as_such(suite) -> None:
    (suite.pytester.path / "out").write_text("x")
    suite.pytester.makepyprojecttoml('[tool.mechtests]\npair = "fake"\nreport = "out"\n'
                                     '[tool.mechtests.pairs.fake]\narm = "a"\nmdm = "m"\n')
    assert "[tool.mechtests] report: " in usage_error(suite)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "cannot read baseline file"),
    ("[1, 2]", "its JSON is not an object"),
    ('{"schema": "something-else"}', "is not a mechtests baseline or results file"),
    ('{"schema": "mechtests-baseline", "schema_version": 9, "run": {}, "cases": {}}', "has schema_version 9"),
    ('{"schema": "mechtests-results", "schema_version": 3}', "has schema_version 3"),
    ('{"schema": "mechtests-baseline", "schema_version": 2, "run": {}, "cases": []}', "is a damaged baseline"),
    ('{"schema": "mechtests-baseline", "schema_version": 1, "run": {}, "cases": {"a [arm]": {"outcome": "maybe", "metrics": {}}}}',
     "is a damaged baseline"),
])
def test_a_bad_baseline_file(suite, content, message) -> None:
    (suite.pytester.path / "b.json").write_text(content)
    line = usage_error(suite, "--mech-baseline=b.json")
    assert "--mech-baseline: " in line and message in line


def test_a_baseline_that_is_a_folder(suite) -> None:
    (suite.pytester.path / "b.json").mkdir()
    assert "--mech-baseline: " in usage_error(suite, "--mech-baseline=b.json")


def test_saving_the_baseline_over_the_results_file(suite) -> None:
    line = usage_error(suite, "--mech-save-baseline=reports/results.json")
    assert "is one of the report's own files; save the baseline under another name" in line


def test_saving_the_baseline_into_a_folder_path(suite) -> None:
    (suite.pytester.path / "b").mkdir()
    assert "--mech-save-baseline: " in usage_error(suite, "--mech-save-baseline=b")


def test_a_seed_numpy_cannot_take(suite) -> None:
    assert "seed 4294967296 is above 4294967295" in usage_error(suite, f"--mech-seed={2**32}")


def test_a_device_that_is_not_there(suite) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    line = usage_error(suite, "--mech-device=cuda:3")
    assert "--mech-device: cuda:3 is not available" in line and "pass --mech-device cpu or auto" in line


def test_a_strict_setting_that_is_not_a_flag(suite) -> None:
    suite.pytester.makepyprojecttoml('[tool.mechtests]\npair = "fake"\nstrict = "maybe"\n'
                                     '[tool.mechtests.pairs.fake]\narm = "a"\nmdm = "m"\n')
    assert "[tool.mechtests] strict: expected true or false, got 'maybe'" in usage_error(suite)


def test_a_good_baseline_passes_the_checks(suite) -> None:
    """The control case: the same checks let a valid run through."""
    suite.write(test_h="import mechtests\n\n@mechtests.hypothesis()\ndef test_h(subject):\n    pass\n")
    assert suite.run("--mech-save-baseline=b.json").ret == 0
    assert json.loads((suite.pytester.path / "b.json").read_text())["schema_version"] == 2
    assert suite.run("--mech-baseline=b.json").ret == 0
