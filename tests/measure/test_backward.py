"""Backward induction against a rule written out by hand and transformers' own attention probabilities."""

from __future__ import annotations

import torch

from mechtests.measure.backward import backward_induction, backward_induction_targets
from mechtests.measure.detect import repeated_tokens
from mechtests.queries import pose
from mechtests.tasks import MDM_ONLY_TASKS, induction_vocabulary

from measure_helpers import bundled


def reference_scores(subject, ids, attention):
    """(B, L, H): transformers' eager `output_attentions`, and a plain loop over queries: query q
    whose token occurs again later, at the nearest such p with p - 1 > q, gets target p - 1."""
    with torch.no_grad():
        probs = subject.model(**subject.model_inputs(ids, attention), output_attentions=True).attentions
    special = {subject.mask_token_id, subject.tokenizer.pad_token_id}
    B, T = ids.shape
    out = torch.full((B, len(probs), probs[0].shape[1]), float("nan"), dtype=torch.float64)
    for b in range(B):
        valid = [bool(attention[b, t]) and int(ids[b, t]) not in special for t in range(T)]
        pairs = []
        for q in range(T):
            later = [p for p in range(q + 1, T) if valid[q] and valid[p] and int(ids[b, p]) == int(ids[b, q])]
            if later and min(later) - 1 > q and valid[min(later) - 1]:
                pairs.append((q, min(later) - 1))
        if pairs:
            for layer, p in enumerate(probs):
                out[b, layer] = torch.stack([p[b, :, q, k].double() for q, k in pairs]).mean(0)
    return out


def test_the_target_is_the_token_before_the_nearest_later_occurrence():
    ids = torch.tensor([[9, 5, 6, 7, 8, 5, 6, 7, 5]])
    target = backward_induction_targets(ids, torch.ones_like(ids, dtype=torch.bool))
    linked = {(int(q), int(k)) for q, k in target[0].nonzero()}
    # 5 at 1 -> next 5 at 5 -> key 4; 6 at 2 -> 6 at 6 -> 5; 7 at 3 -> 7 at 7 -> 6; 5 at 5 -> 5 at 8 -> 7
    assert linked == {(1, 4), (2, 5), (3, 6), (5, 7)}


def test_adjacent_repeats_and_invalid_keys_give_no_target():
    ids = torch.tensor([[5, 5, 6, 7, 6]])
    valid = torch.tensor([[True, True, True, False, True]])
    target = backward_induction_targets(ids, valid)
    assert not target[0, 0].any()  # the next 5 is adjacent: its predecessor is the query itself
    assert not target[0, 2].any()  # the token before the later 6 is not valid


def test_bundled_mdm_scores_match_transformers_attentions_to_1e_6():
    subject = bundled("mdm")
    start, pool = induction_vocabulary(subject.tokenizer)
    ids = repeated_tokens(pool, n=12, length=11, seed=4, bos=start[0])  # (12, 23)
    expected = reference_scores(subject, ids, torch.ones_like(ids))
    got = backward_induction(subject, ids)
    torch.testing.assert_close(got.per_example.double(), expected, atol=1e-6, rtol=0, equal_nan=True)
    torch.testing.assert_close(got.scores.double(), expected.nanmean(0), atol=1e-6, rtol=0)
    assert float(got.scores.max()) > 0.0


def test_bundled_mdm_on_posed_examples_leaves_the_masked_slot_out():
    subject = bundled("mdm")
    examples = MDM_ONLY_TASKS["backward_copy"].generate(subject.tokenizer, 10, seed=2)
    posed = pose(subject, examples)
    assert bool((posed.input_ids[:, 1] == subject.mask_token_id).all())
    expected = reference_scores(subject, posed.input_ids.cpu(), posed.attention_mask.cpu())
    torch.testing.assert_close(backward_induction(subject, examples).per_example.double(), expected, atol=1e-6, rtol=0, equal_nan=True)


def test_a_causal_model_puts_nothing_on_the_target():
    subject = bundled("arm")
    start, pool = induction_vocabulary(subject.tokenizer)
    got = backward_induction(subject, repeated_tokens(pool, n=6, length=11, seed=1, bos=start[0]))
    assert float(got.scores.abs().max()) == 0.0
    assert got.best().value == 0.0
