"""A timeline over post-training (#29): posttrain saves MDM folders every N steps, and `mechtests
timeline` judges the suites at each and draws every hypothesis's key statistic against the step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mechtests
from mechtests.cli import main
from mechtests.commands.timeline import checkpoint_steps
from mechtests.errors import MechtestsError
from mechtests.posttrain import Recipe
from mechtests.posttrain.training import Run
from mechtests.reports.timeline import render_timeline_html, render_timeline_markdown, timeline_data

ARM = str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair" / "arm")
SMALL = dict(seq_len=24, batch_size=16, corpus_rows=96, heldout_rows=32, warmup_steps=5, log_every=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("timeline-run")
    card = Run(ARM, out, Recipe(train_tokens=7 * 16 * 24, seed=3, anneal_fraction=0.5, **SMALL), save_every=3).train()
    return out, card


def test_save_every_writes_a_loadable_mdm_per_n_steps(trained):
    out, card = trained
    found = checkpoint_steps(out / "checkpoints")
    assert [step for step, _ in found] == [3, 6]
    for step, folder in found:
        snapshot = json.loads((folder / "card.json").read_text())
        mdm = mechtests.load_subject(folder)
        assert mdm.kind == "mdm" and mdm.weights_sha256 == snapshot["sha256"]
        assert snapshot["snapshot"]["step"] == step and snapshot["progress"]["step"] == step
    assert card["progress"]["step"] == 7  # the out folder is the last step, whatever save_every is


def test_save_every_must_be_positive(tmp_path):
    with pytest.raises(MechtestsError, match="save_every must be a positive number"):
        Run(ARM, tmp_path, Recipe(train_tokens=16 * 24, **SMALL), save_every=0)


def _result(outcome: str, value: float, threshold: float = 0.5) -> dict:
    return {"outcome": outcome, "evidence": [{"name": "score", "value": value, "ci": [value - 0.1, value + 0.1],
                                              "threshold": threshold, "extra": {}}]}


def _run(arm: str | None, mdm: str, value: float, pair: str | None = None) -> dict:
    results = {"heads.h": {"mdm": _result(mdm, value)}}
    if arm is not None:
        results["heads.h"]["arm"] = _result(arm, 0.9)
    hyps = [{"key": key, "claim": "c", "results": res} for key, res in results.items()]
    if pair is not None:
        hyps.append({"key": "pathways.p", "claim": "p", "results": {"pair": _result(pair, value)}})
    return {"hypotheses": hyps}


def test_the_first_change_is_against_the_arm_for_a_model_claim_and_the_first_step_for_a_pair_claim():
    runs = [(40, _run("holds", "fails", 0.2, pair="holds")), (20, _run("holds", "holds", 0.8, pair="holds")),
            (60, _run("holds", "fails", 0.1, pair="fails"))]
    data = timeline_data(runs)
    assert data["steps"] == [20, 40, 60]
    rows = {(r["key"], r["model"]): r for r in data["hypotheses"]}
    model = rows[("heads.h", "mdm")]
    assert model["arm"]["step"] == 0 and model["arm"]["value"] == 0.9
    assert [p["value"] for p in model["points"]] == [0.8, 0.2, 0.1]
    assert model["first_change"] == 40  # the ARM holds; the MDM first fails at step 40
    pair = rows[("pathways.p", "pair")]
    assert pair["arm"] is None and pair["first_change"] == 60
    assert "| heads.h [mdm] | holds | holds | fails | fails | step 40 |" in render_timeline_markdown(data)


def test_a_verdict_that_never_changes_is_reported_as_such_and_every_chart_is_drawn():
    data = timeline_data([(10, _run("holds", "holds", 0.7)), (20, _run("holds", "holds", 0.6))])
    assert data["hypotheses"][0]["first_change"] is None
    page = render_timeline_html(data, css="")
    assert page.count('data-chart="timeline"') == 1 and "never" in page and "ARM (step 0)" in page


def test_checkpoint_folders_that_cannot_make_a_timeline_are_one_line_errors(tmp_path):
    with pytest.raises(MechtestsError, match="is not a folder"):
        checkpoint_steps(tmp_path / "missing")
    (tmp_path / "step-5").mkdir()
    (tmp_path / "step-5" / "config.json").write_text("{}")
    with pytest.raises(MechtestsError, match="holds 1 checkpoint folder.*at least 2"):
        checkpoint_steps(tmp_path)
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.json").write_text("{}")
    with pytest.raises(MechtestsError, match="cannot tell the training step of .*final"):
        checkpoint_steps(tmp_path)


@pytest.mark.slow
def test_the_command_judges_each_checkpoint_and_writes_one_timeline(trained, tmp_path, capsys):
    out, _ = trained
    report = tmp_path / "timeline"
    code = main(["timeline", "--mdm-checkpoints", str(out / "checkpoints"), "--arm", ARM, "--report", str(report),
                 "--suites", str(Path(__file__).resolve().parents[1] / "suites" / "test_heads.py"),
                 "--", "-n", "0", "-q", "-k", "previous_token"])
    assert code == 0
    data = json.loads((report / "timeline.json").read_text())
    assert data["steps"] == [3, 6]
    (row,) = data["hypotheses"]
    assert row["key"].endswith("previous_token_heads_present") and row["arm"] is not None
    assert all(p["value"] is not None and p["ci"] for p in row["points"])
    assert (report / "step-000003" / "results.json").is_file()
    assert 'data-chart="timeline"' in (report / "report.html").read_text()
