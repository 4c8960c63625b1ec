"""Faults in the inputs and outputs of `mechtests compare` and `mechtests report`: each is one
line and exit 2 (a usage error), never a traceback with exit 1 (compare's "a verdict changed")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mechtests.cli import main as cli_main

DATA = Path(__file__).parent.parent / "plugin" / "data"
OLD, NEW = DATA / "old_results.json", DATA / "new_results.json"


def one_line_error(capsys, command: str, *args: str) -> str:
    assert cli_main([command, *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mechtests {command}: error: ") and err.count("\n") == 1, err
    return err


def test_compare_html_to_a_folder_is_refused_before_comparing(tmp_path, capsys) -> None:
    err = one_line_error(capsys, "compare", OLD, NEW, "--html", tmp_path)
    assert f"{tmp_path} is a folder; pass a file path, e.g. {tmp_path / 'report.html'}" in err


def test_compare_html_under_a_file_is_refused_before_comparing(tmp_path, capsys) -> None:
    (tmp_path / "plain").write_text("")
    err = one_line_error(capsys, "compare", OLD, NEW, "--html", tmp_path / "plain" / "report.html")
    assert f"cannot write {tmp_path / 'plain' / 'report.html'}: {tmp_path / 'plain'} is not a folder you can write to" in err


def test_compare_html_that_fails_to_write_is_one_line(tmp_path, capsys) -> None:
    err = one_line_error(capsys, "compare", OLD, NEW, "--html", "/proc/no-such/report.html")
    assert "cannot write /proc/no-such/report.html: " in err and "pass a file path in a folder you can write to" in err


def damaged(tmp_path: Path, change) -> Path:
    data = json.loads(NEW.read_text())
    change(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


def set_first_value(data: dict) -> None:
    result = next(iter(data["hypotheses"][0]["results"].values()))
    result["evidence"][0]["value"] = "high"


@pytest.mark.parametrize(("change", "message"), [
    (set_first_value, "evidence {name} has value 'high', not a number"),
    (lambda data: data.pop("hypotheses"), "'hypotheses' is missing or not a list"),
])
def test_report_on_a_damaged_results_file_is_one_line(tmp_path, capsys, change, message) -> None:
    path = damaged(tmp_path, change)
    name = repr(next(iter(json.loads(NEW.read_text())["hypotheses"][0]["results"].values()))["evidence"][0]["name"])
    err = one_line_error(capsys, "report", path, "--out", tmp_path / "out")
    assert f"{path} is a damaged results.json: " in err and message.format(name=name) in err
    assert not (tmp_path / "out").exists()
