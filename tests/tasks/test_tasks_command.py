"""`mechtests tasks`: the posed examples of each model, token by token, and its errors."""

from __future__ import annotations

from pathlib import Path

from mechtests.cli import main

PAIR = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"


def test_shows_each_model_of_the_pair_with_its_exact_tokens(capsys):
    assert main(["tasks", "--task", "ioi", "--show", "2", "--n", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("arm ") and any(line.startswith("mdm ") for line in out)
    assert out[1] == "  ioi (prefix-dominant): 10 of 10 candidates kept"
    arm_clean = out[3].split()[1].split("|")
    assert arm_clean[0] == "<bos>" and arm_clean[-1] == "to"  # the ARM reads the left context only
    mdm_rows = out[out.index(next(line for line in out if line.startswith("mdm "))) :]
    assert any(line.split()[1].endswith("|to|<mask>") for line in mdm_rows if line.strip().startswith("clean"))
    assert sum(line.strip().startswith("#") for line in out) == 4  # 2 examples x 2 models
    assert any("reads logits at [14]" in line for line in out)


def test_one_model_alone(capsys):
    assert main(["tasks", "--arm", str(PAIR / "arm"), "--task", "countdown", "--show", "1", "--n", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("arm ") and "\nmdm " not in out and "countdown (globally-constrained)" in out


def test_an_unknown_task_is_a_one_line_error(capsys):
    assert main(["tasks", "--arm", str(PAIR / "arm"), "--task", "nope", "--n", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown task 'nope'" in err
