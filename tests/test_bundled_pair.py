"""The shipped tiny pair: what the card promises, measured on the shipped weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.tasks import TaskSet, first_occurrence_scores

PAIR = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair"


@pytest.fixture(scope="module")
def arm():
    return mechtests.load_subject(PAIR / "arm")


@pytest.fixture(scope="module")
def mdm():
    return mechtests.load_subject(PAIR / "mdm")


@pytest.fixture(scope="module")
def tasks(arm):
    return TaskSet(arm.tokenizer, n=200, seed=0)


def test_folders_carry_the_mechtests_block_and_fit_the_size_budget():
    arm_cfg = json.loads((PAIR / "arm" / "config.json").read_text())
    mdm_cfg = json.loads((PAIR / "mdm" / "config.json").read_text())
    assert arm_cfg["mechtests"] == {"kind": "arm"}
    assert mdm_cfg["mechtests"]["kind"] == "mdm" and mdm_cfg["mechtests"]["prediction"] == "shifted"
    assert arm_cfg["model_type"] == "llama" and arm_cfg["num_hidden_layers"] >= 4
    total = sum(f.stat().st_size for f in PAIR.rglob("*") if f.is_file())
    assert total <= 20 * 2**20


def test_card_names_the_shipped_weights():
    card = json.loads((PAIR / "card.json").read_text())
    for role in ("arm", "mdm"):
        digest = hashlib.sha256((PAIR / role / "model.safetensors").read_bytes()).hexdigest()
        assert card["sha256"][role] == digest
    assert "build_pair.py" in (PAIR / "CARD.md").read_text()


def test_loaded_kinds_and_mask_token(arm, mdm):
    assert (arm.kind, mdm.kind) == ("arm", "mdm")
    assert mdm.mask_token_id == mdm.tokenizer.mask_token_id and mdm.prediction == "shifted"
    assert arm.tokenizer.get_vocab() == mdm.tokenizer.get_vocab()


def _earlier_logits_move(subject, ids: torch.Tensor, changed: int) -> float:
    """Largest change of the logits before `changed` when the token there is replaced."""
    other = ids.clone()
    other[:, changed] = torch.roll(ids[:, changed], 1)  # another example's token at that place
    with torch.no_grad():
        a = subject.model(input_ids=ids).logits[:, :changed]  # (B, changed, V)
        b = subject.model(input_ids=other).logits[:, :changed]
    return (a - b).abs().max().item()


def test_arm_attends_causally_and_mdm_bidirectionally(arm, mdm, tasks):
    ids = torch.tensor([e.tokens for e in tasks.ioi[:32]])  # (B, T)
    changed = ids.shape[1] - 3
    assert _earlier_logits_move(arm, ids, changed) < 1e-5
    assert _earlier_logits_move(mdm, ids, changed) > 1e-2


def test_mdm_weights_are_bidirectional_without_the_loader(tasks):
    """Plain transformers, no mechtests loader: the saved config itself makes attention full."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(PAIR / "mdm").eval()
    ids = torch.tensor([e.tokens for e in tasks.ioi[:8]])
    other = ids.clone()
    other[:, -1] = torch.roll(ids[:, -1], 1)
    with torch.no_grad():
        moved = (model(input_ids=ids).logits[:, 0] - model(input_ids=other).logits[:, 0]).abs().max().item()
    assert moved > 1e-2


def induction_scores(subject, examples) -> torch.Tensor:
    """(L, H): mean attention from the last repeated token to the token after its first occurrence."""
    ids = torch.tensor([e.tokens for e in examples])  # (B, T)
    with torch.no_grad():
        attentions = subject.model(input_ids=ids, output_attentions=True).attentions  # L x (B, H, T, T)
    return first_occurrence_scores(attentions, examples)  # (L, H)


def test_bundled_arm_has_an_induction_head(arm, tasks):
    scores = induction_scores(arm, tasks.induction)
    assert scores.max().item() >= 0.4, f"best induction score {scores.max().item():.3f}"
