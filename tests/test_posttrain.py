"""mechtests posttrain: the bundled ARM becomes a loadable, bidirectional MDM; resume and rebuild are exact."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.tasks.filler import filler
from mechtests.cli import main
from mechtests.errors import MechtestsError
from mechtests.posttrain import Recipe, posttrain
from mechtests.posttrain.assemble import assemble
from mechtests.posttrain.evaluate import evaluate_run, later_token_effect
from mechtests.posttrain.training import Run

ARM = str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair" / "arm")
# Small enough for CI: 24-token rows (the tiny tasks' length), a few hundred sampled rows.
SMALL = dict(seq_len=24, batch_size=16, corpus_rows=96, heldout_rows=32, warmup_steps=5, log_every=2)


@pytest.mark.slow
def test_thirty_seconds_give_a_loadable_bidirectional_mdm_whose_loss_went_down(tmp_path):
    card = posttrain(ARM, tmp_path, Recipe(minutes=0.5, train_tokens=200 * 16 * 24, **SMALL))  # attention fully open from step 20
    mdm = mechtests.load_subject(tmp_path)
    assert (mdm.kind, mdm.mask_token_id, mdm.prediction) == ("mdm", 4, "shifted")  # the tokenizer's own <mask>
    assert mdm.weights_sha256 == card["sha256"]
    rows = torch.tensor(filler(mdm.tokenizer, 16, 24, seed=5))
    moved = later_token_effect(lambda ids: mdm.model(input_ids=ids).logits, rows, seed=0)
    assert moved.lo > 0.0  # changing the last token moves the logits before it
    curve = card["progress"]["heldout_curve"]
    assert card["progress"]["step"] >= 5 and curve[0]["step"] == 0
    assert curve[-1]["masked_ce"]["value"] < curve[0]["masked_ce"]["value"]


def _run(out: Path, resume: bool = False) -> Run:
    return Run(ARM, out, Recipe(rank=4, train_tokens=8 * 16 * 24, seed=3, anneal_fraction=0.5, **SMALL), resume=resume)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("uninterrupted")
    return out, _run(out).train()


def test_resume_equals_an_uninterrupted_run(uninterrupted, tmp_path):
    out, card = uninterrupted
    stopped = _run(tmp_path).train(max_steps=3)
    assert stopped["progress"]["step"] == 3
    resumed = _run(tmp_path, resume=True).train()
    assert resumed["progress"]["step"] == card["progress"]["step"] == 8
    assert resumed["progress"]["loss_curve"] == card["progress"]["loss_curve"]
    assert (tmp_path / "train" / "delta.safetensors").read_bytes() == (out / "train" / "delta.safetensors").read_bytes()
    assert resumed["sha256"] == card["sha256"]


def test_the_assembled_folder_reproduces_the_cards_sha256(uninterrupted, tmp_path):
    out, card = uninterrupted
    checkpoint_card = json.loads((out / "train" / "card.json").read_text())  # what a shipped delta comes with
    sha = assemble(ARM, out / "train" / "delta.safetensors", tmp_path, expected_sha256=checkpoint_card["sha256"])
    assert sha == card["sha256"] == checkpoint_card["sha256"] == mechtests.load_subject(tmp_path).weights_sha256
    assert json.loads((tmp_path / "config.json").read_text())["mechtests"]["kind"] == "mdm"


def test_a_delta_refuses_another_arm(uninterrupted, tiny_paths, tmp_path):
    out, _ = uninterrupted
    with pytest.raises(MechtestsError, match="pass the ARM it was trained on"):
        assemble(tiny_paths["llama", "arm"], out / "train" / "delta.safetensors", tmp_path)


def test_runs_are_not_overwritten_and_resume_needs_a_run(uninterrupted, tmp_path):
    out, _ = uninterrupted
    with pytest.raises(MechtestsError, match="--resume"):
        _run(out)
    with pytest.raises(MechtestsError, match="drop --resume"):
        _run(tmp_path, resume=True)


@pytest.mark.parametrize("argv, problem", [
    (["missing-folder"], "no checkpoint folder"),
    ([ARM, "--rank", "-1"], "rank=-1"),
    ([ARM, "--batch-size", "0"], "batch_size=0"),
    ([ARM, "--seq-len", "65"], "longer than"),
])
def test_the_command_reports_bad_input_in_one_line(argv, problem, tmp_path, capsys):
    assert main(["posttrain", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mechtests posttrain: error: ") and problem in err and "\n" not in err


def test_a_termination_signal_stops_after_the_step_with_a_checkpoint(tmp_path):
    run = _run(tmp_path)
    first = run.optimizer.step

    def step_then_sigterm(*args, **kwargs):
        result = first(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return result

    run.optimizer.step = step_then_sigterm
    card = run.train()
    assert card["progress"]["step"] == 1 and card["sha256"] is not None
    assert _run(tmp_path, resume=True).progress["step"] == 1


def test_text_files_are_the_training_data_when_given(tmp_path):
    tokenizer = mechtests.load_subject(ARM).tokenizer
    text = tmp_path / "notes.txt"
    text.write_text(" ".join(tokenizer.decode(row[1:]) for row in filler(tokenizer, 80, 24, seed=9)))
    run = Run(ARM, tmp_path / "out", Recipe(rank=4, text_files=(str(text),), **SMALL))
    card = run.train(max_steps=2)
    assert card["data"]["source"] == "files" and list(card["data"]["files"]) == [str(text)]
    assert card["progress"]["step"] == 2 and len(run.heldout) == card["data"]["heldout_rows"] > 0
    with pytest.raises(MechtestsError, match="no text file"):
        Run(ARM, tmp_path / "other", Recipe(text_files=(str(tmp_path / "missing.txt"),), **SMALL))


def test_evaluate_compares_the_mdm_with_the_arm_and_the_untrained_weights(uninterrupted):
    out, _ = uninterrupted
    result = evaluate_run(out, ARM)
    assert set(result["masked_token_accuracy"]) == {"mdm", "arm_left_context", "untrained_bidirectional"}
    infill = result["infilling"]
    assert set(infill) == {"right_context_present", "right_context_masked", "right_context_gain"}
    gain = infill["right_context_present"]["value"] - infill["right_context_masked"]["value"]
    assert infill["right_context_gain"]["value"] == pytest.approx(gain)  # paired, on the same scored tokens
    assert result["later_token_effect"]["arm"]["hi"] == 0.0 < result["later_token_effect"]["mdm"]["lo"]
    for estimate in result["masked_token_accuracy"].values():
        assert estimate["lo"] <= estimate["value"] <= estimate["hi"] and estimate["n"] == 32
    assert json.loads((out / "card.json").read_text())["evaluation"] == result
