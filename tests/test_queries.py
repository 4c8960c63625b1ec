"""Layer 2: the query layer reads the right positions for ARM, shifted MDM and same-position MDM.

Every expectation is computed by hand from a direct forward pass of the bare model.
"""

from __future__ import annotations

import pytest
import torch

import mechtests
from mechtests.errors import MechtestsError
from mechtests.queries import Example, answer_logits, correct, denoise_schedule, metric, pose, posed_steps

MASK = 4  # '<mask>' in mechtests.testing's tokenizer


def _example(seed: int, positions=(6, 8), right_context=True, length=12, **extra) -> Example:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(5, 60, (length,), generator=g).tolist()
    corrupted = torch.randint(5, 60, (length,), generator=g).tolist()
    return Example(tokens=tuple(tokens), answer_positions=tuple(positions), wrong=tuple(5 for _ in positions),
                   corrupted=tuple(corrupted), right_context=right_context, **extra)


def _direct(subject, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return subject.model(input_ids=torch.tensor([ids])).logits[0]  # (T, V)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_arm_reads_before_each_answer_from_left_context(tiny_paths, family):
    arm = mechtests.load_subject(tiny_paths[family, "arm"])
    examples = [_example(0), _example(1)]
    got = answer_logits(arm, examples)  # (B, A, V)
    for row, ex in enumerate(examples):
        direct = _direct(arm, list(ex.tokens[:8]))  # left context up to the last answer, answers teacher-forced
        assert torch.allclose(got[row], direct[[5, 7]], atol=1e-5)


@pytest.mark.parametrize("variant,reads", [("mdm", [5, 7]), ("mdm-same", [6, 8])])
@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2"])
def test_mdm_masks_answers_and_reads_by_convention(tiny_paths, family, variant, reads):
    mdm = mechtests.load_subject(tiny_paths[family, variant])
    examples = [_example(2), _example(3)]
    got = answer_logits(mdm, examples)
    for row, ex in enumerate(examples):
        masked = list(ex.tokens)
        masked[6] = masked[8] = MASK
        direct = _direct(mdm, masked)  # right context kept
        assert torch.allclose(got[row], direct[reads], atol=1e-5)


def test_mdm_without_right_context_never_sees_it(tiny_paths):
    """Rows with different answer positions are padded out of attention, not shown to the model."""
    mdm = mechtests.load_subject(tiny_paths["llama", "mdm"])
    examples = [_example(4, positions=(5,), right_context=False), _example(5, positions=(9,), right_context=False)]
    got = answer_logits(mdm, examples)
    for row, ex in enumerate(examples):
        p = ex.answer_positions[0]
        direct = _direct(mdm, list(ex.tokens[:p]) + [MASK])
        assert torch.allclose(got[row, 0], direct[p - 1], atol=1e-5)


def test_corrupted_changes_context_only(tiny_paths):
    mdm = mechtests.load_subject(tiny_paths["llama", "mdm"])
    ex = _example(6)
    posed = pose(mdm, [ex], corrupted=True)
    expected = list(ex.corrupted)
    expected[6] = expected[8] = MASK
    assert posed.input_ids[0].tolist() == expected
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    arm_ids = pose(arm, [ex], corrupted=True).input_ids[0].tolist()
    assert arm_ids == list(ex.corrupted[:6]) + [ex.tokens[6]] + [ex.corrupted[7]]  # clean answer teacher-forced


def test_arm_form_is_used_for_arms_only(tiny_paths):
    arm_form = _example(7, positions=(10,), right_context=False)
    ex = _example(8, positions=(4,), arm=arm_form)
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    mdm = mechtests.load_subject(tiny_paths["llama", "mdm"])
    assert pose(arm, [ex]).input_ids[0].tolist() == list(arm_form.tokens[:10])
    assert pose(mdm, [ex]).input_ids[0, 4].item() == MASK


def test_metric_and_correct_by_hand():
    logits = torch.tensor([[[0.0, 2.0, 1.0]], [[3.0, 0.0, 1.0]]])  # (B=2, A=1, V=3)
    posed = type("P", (), {})()
    posed.answer_ids = torch.tensor([[1], [1]])
    posed.wrong_ids = torch.tensor([[2], [2]])
    posed.active = torch.ones(2, 1, dtype=torch.bool)
    posed.good = posed.bad = None
    assert metric(logits, posed).tolist() == [1.0, -1.0]
    assert correct(logits, posed).tolist() == [True, False]
    posed.good = torch.tensor([[False, True, True], [False, True, True]])
    posed.bad = ~posed.good
    probs = logits[:, 0].softmax(-1)
    expected = probs[:, 1:].sum(-1) - probs[:, 0]
    assert torch.allclose(metric(logits, posed), expected)
    assert correct(logits, posed).tolist() == [True, False]


def test_denoising_unmasks_the_most_confident_slot_each_step(tiny_paths):
    mdm = mechtests.load_subject(tiny_paths["llama", "mdm"])
    examples = [_example(9), _example(10)]
    fills = denoise_schedule(mdm, examples, steps=2)
    assert len(fills) == 2 and (fills[0] == -1).all()
    first = answer_logits(mdm, examples).softmax(-1)  # (B, A, V)
    confidence, prediction = first.max(-1)
    for row in range(2):
        slot = int(confidence[row].argmax())
        assert fills[1][row, slot] == prediction[row, slot] and fills[1][row, 1 - slot] == -1
    steps = posed_steps(mdm, examples, steps=2)
    assert torch.equal(steps[1][0].active, steps[1][1].active)  # clean and corrupted share the schedule
    assert steps[1][0].active.sum() == 2


def test_batches_of_mixed_shapes_are_refused(tiny_paths):
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    with pytest.raises(MechtestsError, match="different shapes"):
        pose(arm, [_example(0), _example(1, length=13)])
