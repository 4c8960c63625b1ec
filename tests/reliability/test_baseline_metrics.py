"""A metric the gate cannot compare (a string in a baseline, or a string evidence value in a
results.json used as one) is a one-line error naming the file and the entry, never skipped."""

from __future__ import annotations

import json
from pathlib import Path

from mechtests.cli import main as cli_main
from mechtests.testing.suite import suite  # noqa: F401 - the fixture

NEW = Path(__file__).parent.parent / "plugin" / "data" / "new_results.json"


def baseline(path: Path, metrics: dict) -> Path:
    path.write_text(json.dumps({"schema": "mechtests-baseline", "schema_version": 2, "run": {"seed": 0, "models": {}},
                                "cases": {"m.h [arm]": {"outcome": "holds", "metrics": metrics}}}))
    return path


def test_a_string_metric_in_a_baseline_is_named_by_compare(tmp_path, capsys) -> None:
    old, new = baseline(tmp_path / "old.json", {"score": "0.9"}), baseline(tmp_path / "new.json", {"score": 0.5})
    assert cli_main(["compare", str(old), str(new)]) == 2
    err = capsys.readouterr().err
    assert err == f"mechtests compare: error: {old} is a damaged baseline: m.h [arm] metric 'score' is '0.9', not a number; " \
                  "save it again with --mech-save-baseline FILE on a known-good run\n"


def test_a_null_metric_is_still_read(tmp_path, capsys) -> None:
    old, new = baseline(tmp_path / "old.json", {"score": None}), baseline(tmp_path / "new.json", {"score": 0.5})
    assert cli_main(["compare", str(old), str(new)]) == 0


def test_a_string_evidence_value_in_a_results_file_is_named_by_compare(tmp_path, capsys) -> None:
    data = json.loads(NEW.read_text())
    result = next(iter(data["hypotheses"][0]["results"].values()))
    result["evidence"][0]["value"] = "high"
    old = tmp_path / "results.json"
    old.write_text(json.dumps(data))
    assert cli_main(["compare", str(old), str(NEW)]) == 2
    err = capsys.readouterr().err
    assert f"{old} is a damaged results.json: " in err and "has value 'high', not a number" in err and err.count("\n") == 1


def test_a_string_metric_in_the_baseline_stops_the_pytest_run_with_exit_4(suite, tmp_path) -> None:
    suite.write(test_s="import mechtests\n\n@mechtests.hypothesis()\ndef test_h(subject):\n    pass\n")
    path = baseline(tmp_path / "b.json", {"score": "high"})
    result = suite.run(f"--mech-baseline={path}")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*{path} is a damaged baseline: m.h ?arm? metric 'score' is 'high', not a number*"])
