"""Layer 2: the query layer reads the right positions for ARM, shifted MDM and same-position MDM.

Every expectation is computed by hand from a direct forward pass of the bare model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.errors import MechtestsError
from mechtests.models.subject import Subject
from mechtests.queries import (
    Example, answer_logits, correct, denoise_schedule, evaluate, length_batches, metric, pose, posed_steps, view_for,
)
from mechtests.tasks import TaskSet

MASK = 4  # '<mask>' in mechtests.testing.checkpoints's tokenizer


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
    posed.good = posed.bad = posed.good_after = posed.bad_after = None
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


def test_batches_of_mixed_answer_counts_are_refused(tiny_paths):
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    with pytest.raises(MechtestsError, match="answer tokens in one batch"):
        pose(arm, [_example(0), _example(1, positions=(6,))])


# --- mixed lengths: right padding, per-row reads ----------------------------------------------------
PAIR = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair"


@pytest.fixture(scope="module")
def bundled():
    arm, mdm = mechtests.load_subject(PAIR / "arm"), mechtests.load_subject(PAIR / "mdm")
    tasks = TaskSet(arm.tokenizer, n=4, seed=0)
    # 24, 16 and 14 (MDM: right context; ARM: its own form) tokens, one answer each, interleaved
    mixed = [ex for row in zip(tasks.induction, tasks.ioi, tasks.infilling) for ex in row]
    return arm, mdm, mixed


@pytest.mark.parametrize("role", ["arm", "mdm"])
def test_padding_changes_no_result_on_the_bundled_pair(bundled, role):
    arm, mdm, mixed = bundled
    subject = arm if role == "arm" else mdm
    assert len({len(view_for(subject, e).tokens) for e in mixed}) == 3
    for corrupted in (False, True):
        padded = answer_logits(subject, mixed, corrupted=corrupted)  # one batch of three lengths
        alone = torch.cat([answer_logits(subject, [e], corrupted=corrupted) for e in mixed])  # no padding at all
        assert torch.allclose(padded, alone, atol=1e-5)
    metrics, right = evaluate(subject, mixed)
    single = [evaluate(subject, [e]) for e in mixed]
    assert torch.allclose(metrics, torch.cat([m for m, _ in single]), atol=1e-5)
    assert right.tolist() == [bool(r) for _, r in single]


def test_padded_rows_end_their_attention_where_their_input_ends(bundled):
    arm, mdm, mixed = bundled
    for subject in (arm, mdm):
        posed = pose(subject, mixed)
        for row, e in enumerate(mixed):
            view = view_for(subject, e)
            end = (len(view.tokens) if view.right_context else view.answer_positions[-1] + 1) if subject.is_mdm else view.answer_positions[-1]
            assert posed.attention_mask[row].tolist() == [1] * end + [0] * (posed.input_ids.shape[1] - end)
            assert (posed.input_ids[row, end:] == arm.tokenizer.pad_token_id).all()


def test_a_model_without_padding_is_batched_by_length(bundled, monkeypatch):
    arm, _, mixed = bundled
    padded = evaluate(arm, mixed)
    monkeypatch.setattr(Subject, "allows_padding", property(lambda self: False))
    batches = length_batches(arm, mixed, batch_size=256)
    assert sorted(i for b in batches for i in b) == list(range(len(mixed))) and len(batches) == 3
    assert all(len({len(view_for(arm, mixed[i]).tokens) for i in b}) == 1 for b in batches)
    by_length = evaluate(arm, mixed)  # results come back in the examples' order
    assert torch.allclose(by_length[0], padded[0], atol=1e-5) and torch.equal(by_length[1], padded[1])
    with pytest.raises(MechtestsError, match="takes no padding"):
        pose(arm, mixed)


# --- Greater-Than with a year written one digit per token --------------------------------------------
def _digit_sets(tens: int, units: int) -> dict:
    """Digits are token ids 0-9 here."""
    return dict(good=tuple(range(tens + 1, 10)), bad=tuple(range(tens)),
                after_tie=(tuple(range(units + 1, 10)), tuple(range(units + 1))))


def _posed_by_hand(answer_ids, sets, vocab=12, active=None, revealed=None):
    posed = type("P", (), {})()
    posed.answer_ids = torch.tensor([answer_ids])
    posed.active = torch.ones(1, 2, dtype=torch.bool) if active is None else torch.tensor([active])
    posed.answer_positions = torch.tensor([[3, 4]])
    posed.input_ids = torch.tensor([[11, 11, 11, revealed if revealed is not None else 10, 10]])
    for name, ids in (("good", sets["good"]), ("bad", sets["bad"]), ("good_after", sets["after_tie"][0]), ("bad_after", sets["after_tie"][1])):
        mask = torch.zeros(1, vocab, dtype=torch.bool)
        mask[0, list(ids)] = True
        setattr(posed, name, mask)
    return posed


def test_per_digit_mass_is_the_probability_of_a_later_year():
    """Start year 32. With all mass on digit tokens the metric is P(year > 32) - P(year <= 32) under
    the joint of tens and units (brute force); mass on other tokens counts neither way."""
    logits = torch.randn(1, 2, 12, generator=torch.Generator().manual_seed(0))  # ids 10, 11: not digits
    posed = _posed_by_hand([3, 5], _digit_sets(3, 2))
    p0, p1 = logits[0, 0].softmax(-1), logits[0, 1].softmax(-1)
    expected = sum(p0[t] * (1 if t > 3 else -1) for t in range(10) if t != 3) + p0[3] * sum(p1[u] * (1 if u > 2 else -1) for u in range(10))
    assert torch.allclose(metric(logits, posed), expected.unsqueeze(0), atol=1e-6)
    digits_only = logits.clone()
    digits_only[..., 10:] = -1e9
    p0, p1 = digits_only[0, 0].softmax(-1), digits_only[0, 1].softmax(-1)
    joint = sum(p0[t] * p1[u] * (1 if 10 * t + u > 32 else -1) for t in range(10) for u in range(10))
    assert torch.allclose(metric(digits_only, posed), joint.unsqueeze(0), atol=1e-5)


@pytest.mark.parametrize("tens,units,ok", [(3, 7, True), (3, 1, False), (3, 2, False), (4, 0, True), (2, 9, False)])
def test_per_digit_correct_is_the_greedy_year_above_the_start(tens, units, ok):
    logits = torch.zeros(1, 2, 12)
    logits[0, 0, tens] = logits[0, 1, units] = 5.0
    assert correct(logits, _posed_by_hand([3, 5], _digit_sets(3, 2))).tolist() == [ok]


def test_a_revealed_digit_counts_as_certain():
    """k-step denoising: with the tens slot filled (inactive), its revealed token decides."""
    logits = torch.randn(1, 2, 12, generator=torch.Generator().manual_seed(1))
    above = _posed_by_hand([3, 5], _digit_sets(3, 2), active=[False, True], revealed=4)
    assert torch.allclose(metric(logits, above), torch.tensor([1.0]))
    tie = _posed_by_hand([3, 5], _digit_sets(3, 2), active=[False, True], revealed=3)
    p1 = logits[0, 1].softmax(-1)
    assert torch.allclose(metric(logits, tie), (p1[3:10].sum() - p1[:3].sum()).unsqueeze(0), atol=1e-6)
    assert correct(logits, above).tolist() == [True]


@pytest.mark.parametrize("variant", ["arm", "mdm"])
def test_per_digit_reads_teacher_forced_for_the_arm_and_in_one_fill_step_for_the_mdm(tiny_paths, variant):
    subject = mechtests.load_subject(tiny_paths["llama", variant])
    ex = _example(11, positions=(6, 7), right_context=False, **_digit_sets(3, 2))
    tokens = list(ex.tokens)
    tokens[6], tokens[7] = 3, 5  # tens = the tie, units above 2 (ids 0-9 stand for digits)
    ex = Example(tokens=tuple(tokens), answer_positions=(6, 7), wrong=(3, 2), corrupted=ex.corrupted,
                 good=ex.good, bad=ex.bad, after_tie=ex.after_tie)
    posed = pose(subject, [ex])
    got = metric(answer_logits(subject, posed), posed)
    if variant == "arm":  # one pass; the units read after the tens digit 3 is in the input
        direct = _direct(subject, tokens[:7])
        p0, p1 = direct[5].softmax(-1), direct[6].softmax(-1)
    else:  # one pass with both digits masked: the units distribution is not conditioned on the tens
        direct = _direct(subject, tokens[:6] + [MASK, MASK])
        p0, p1 = direct[5].softmax(-1), direct[6].softmax(-1)
    expected = p0[4:10].sum() - p0[:3].sum() + p0[3] * (p1[3:10].sum() - p1[:3].sum())
    assert torch.allclose(got, expected.unsqueeze(0), atol=1e-5)


@pytest.mark.parametrize("role", ["arm", "mdm"])
def test_padding_changes_no_attribution(bundled, role):
    """EAP-IG reads the metric through the query layer: a padded batch gives every row the edge
    scores it gets alone."""
    from mechtests.measure.attribution import attribute

    arm, mdm, mixed = bundled
    subject = arm if role == "arm" else mdm
    rows = mixed[:3]  # induction, IOI, infilling: three lengths
    together = attribute(subject, rows, steps=2)
    for i, example in enumerate(rows):
        alone = attribute(subject, [example], steps=2)
        assert torch.allclose(together.per_example[i], alone.per_example[0], atol=1e-5)
        assert torch.allclose(together.metric_clean[i], alone.metric_clean[0], atol=1e-5)
