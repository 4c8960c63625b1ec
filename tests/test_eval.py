"""`mechtests eval` on the bundled pair: the acceptance figures, the card's figures, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mechtests.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAIR = ROOT / "fixtures" / "tiny-pair"


@pytest.fixture(scope="module")
def report():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", "--json", "--n", "1000", "--seed", "0"]) == 0
    return json.loads(out.getvalue())


def test_json_names_the_pair_and_its_weights(report):
    card = json.loads((PAIR / "card.json").read_text())
    assert report["pair"] == "tiny" and report["n"] == 1000 and report["seed"] == 0
    assert report["models"]["arm"]["sha256"] == card["sha256"]["arm"]  # one weight file: same digest
    assert report["models"]["mdm"]["sha256"] == card["sha256"]["mdm"]
    assert list(report["tasks"]) == ["induction", "ioi", "greater_than", "countdown", "infilling"]


def test_acceptance_accuracy_and_common_correct_pool(report):
    for name, row in report["tasks"].items():
        assert row["candidates"] <= 1000 and row["common_correct"] >= 500, name
        assert row["common_correct"] <= min(row["arm"]["accuracy"], row["mdm"]["accuracy"]) * 1000 + 1e-6
        if row["regime"] == "prefix-dominant":
            assert row["arm"]["accuracy"] >= 0.9 and row["mdm"]["accuracy"] >= 0.9, name


def test_query_layer_agrees_with_the_training_card(report):
    """The card's figures come from the recipe's own posing; the query layer must reproduce them."""
    card = json.loads((PAIR / "card.json").read_text())
    for name, row in report["tasks"].items():
        for role in ("arm", "mdm"):
            assert row[role]["accuracy"] == pytest.approx(card["eval"][name][role]["accuracy"], abs=0.005), (name, role)
            assert row[role]["logit_diff"] == pytest.approx(card["eval"][name][role]["logit_diff"], abs=0.01), (name, role)
        assert row["common_correct"] == pytest.approx(card["eval"][name]["common_correct"], abs=5)


def test_table_lists_every_task(capsys):
    assert main(["eval", "--arm", str(PAIR / "arm"), "--mdm", str(PAIR / "mdm"), "--n", "50"]) == 0
    out = capsys.readouterr().out
    for name in ("induction", "ioi", "greater_than", "countdown", "infilling", "common-correct"):
        assert name in out


def test_a_one_model_run_reports_the_models_own_pool(capsys):
    assert main(["eval", "--mdm", "none", "--n", "40", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pair"] == "tiny with mdm=none" and list(report["models"]) == ["arm"]
    for name, row in report["tasks"].items():
        assert "mdm" not in row and row["common_correct"] is None, name
        assert row["arm"]["correct"] == round(row["arm"]["accuracy"] * row["kept"]), name
        assert row["kept"] + row["dropped"] == row["candidates"] == 40, name


def test_task_selects_tasks(capsys):
    assert main(["eval", "--mdm", "none", "--n", "10", "--json", "--task", "ioi", "--task", "countdown"]) == 0
    assert list(json.loads(capsys.readouterr().out)["tasks"]) == ["ioi", "countdown"]
    assert main(["eval", "--mdm", "none", "--n", "10", "--task", "nope"]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err


def test_a_one_model_table_names_its_missing_column(capsys):
    assert main(["eval", "--arm", "none", "--n", "10"]) == 0
    out = capsys.readouterr().out
    assert "MDM acc" in out and "ARM acc" not in out and "pair tiny with arm=none" in out and "10/10" in out


@pytest.mark.real_model
@pytest.mark.slow
def test_smollm2_eval_poses_every_task_it_can(smollm2_pair, capsys):
    """A few candidates only: the 1000-candidate figures are in README's Real models section."""
    assert main(["eval", "--pair", "smollm2", "--mdm", "none", "--n", "16", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pair"] == "smollm2 with mdm=none" and list(report["models"]) == ["arm"]
    for name in ("ioi", "greater_than"):
        row = report["tasks"][name]
        assert "error" not in row and 0 <= row["arm"]["accuracy"] <= 1, name


@pytest.mark.parametrize("argv, words", [
    (["--pair", "nope"], "unknown pair 'nope'"),
    (["--arm", "/no/such/folder", "--mdm", str(PAIR / "mdm")], "no checkpoint folder at /no/such/folder"),
    (["--arm", "pkg:no_such_package_xyz/m.gguf"], "--arm: package 'no_such_package_xyz'"),
    (["--arm", "none", "--mdm", "none"], "leaves no model to run"),
    (["--arm", str(PAIR / "mdm"), "--mdm", str(PAIR / "arm"), "--n", "5"], "kind"),
])
def test_bad_input_is_one_line_error(capsys, argv, words):
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err
