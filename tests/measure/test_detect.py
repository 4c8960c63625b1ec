"""Head detectors against attention probabilities returned by transformers itself."""

from __future__ import annotations

import pytest
import torch

import mechtests
from mechtests.measure.detect import repeated_tokens, score_from_probs, previous_token_targets
from mechtests.queries import pose

from measure_helpers import bundled, copy_examples


def reference_scores(subject, ids, attention, rule):
    """Independent scores: transformers' output_attentions and a plain loop over queries."""
    with torch.no_grad():
        probs = subject.model(input_ids=ids, attention_mask=attention, output_attentions=True).attentions
    special = {subject.mask_token_id, subject.tokenizer.pad_token_id}
    B, T = ids.shape
    L, H = len(probs), probs[0].shape[1]
    out = torch.full((B, L, H), float("nan"))
    for b in range(B):
        valid = [bool(attention[b, t]) and int(ids[b, t]) not in special for t in range(T)]
        pairs = []  # (query, [targets])
        for q in range(T):
            if not valid[q]:
                continue
            earlier = [p for p in range(q) if valid[p] and int(ids[b, p]) == int(ids[b, q])]
            if rule == "previous" and q >= 1 and valid[q - 1]:
                pairs.append((q, [q - 1]))
            elif rule == "duplicate" and earlier:
                pairs.append((q, earlier))
            elif rule == "induction" and earlier and max(earlier) + 1 < q and valid[max(earlier) + 1]:
                pairs.append((q, [max(earlier) + 1]))
        if pairs:
            for layer in range(L):
                out[b, layer] = torch.stack([probs[layer][b, :, q, ts].sum(-1) for q, ts in pairs]).mean(0)
    return out.nanmean(0), out


DETECTORS = {"induction": "induction", "previous": "previous_token", "duplicate": "duplicate_token"}


@pytest.mark.parametrize("family,variant", [("llama", "arm"), ("llama", "mdm"), ("gpt2", "arm"), ("qwen2", "mdm")])
@pytest.mark.parametrize("rule", sorted(DETECTORS))
def test_detectors_match_transformers_attentions_on_repeated_tokens(subjects, family, variant, rule):
    subject = subjects(family, variant)
    ids = repeated_tokens(64, n=5, length=7, seed=3, bos=2)
    ids[0, 4] = ids[0, 2]  # an extra duplicate inside the first half
    result = getattr(mechtests.measure.detect, DETECTORS[rule])(subject, ids)
    expected, per_example = reference_scores(subject, ids, torch.ones_like(ids), rule)
    assert result.scores.shape == (subject.n_layers, subject.n_heads)
    torch.testing.assert_close(result.scores, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.per_example, per_example, atol=1e-5, rtol=0, equal_nan=True)


def test_induction_on_examples_reads_the_posed_mdm_input(subjects):
    """Examples go through pose: the MDM's masked answer slot is neither query nor target."""
    subject = subjects("llama", "mdm")
    examples = copy_examples(6, seed=5)
    posed = pose(subject, examples)
    expected, _ = reference_scores(subject, posed.input_ids, posed.attention_mask, "induction")
    torch.testing.assert_close(mechtests.measure.detect.induction(subject, examples).scores, expected, atol=1e-5, rtol=0)


def test_future_mass_gets_no_credit_and_causal_normalisation_discounts_it():
    T = 4
    ids = torch.tensor([[5, 6, 7, 8]])
    target = previous_token_targets(ids, torch.ones_like(ids, dtype=torch.bool))
    probs = torch.zeros(1, 2, T, T)
    probs[0, 0, torch.arange(1, T), torch.arange(T - 1)] = 1.0  # head 0: a perfect previous-token head
    probs[0, 1, torch.arange(1, T), torch.arange(T - 1)] = 0.5  # head 1: half on t-1, half on t+1 (or t)
    probs[0, 1, torch.arange(1, T), torch.tensor([2, 3, 3])] += 0.5
    plain, causal = score_from_probs(probs, target)
    assert plain[0].tolist() == [1.0, 0.5]
    assert causal[0, 0] == 1.0 and causal[0, 1] > plain[0, 1]  # the future half is discounted, not credited


def test_bundled_arm_induction_agrees_with_transformers_to_1e_4():
    subject = bundled("arm")
    from mechtests.tasks import TaskSet

    examples = TaskSet(subject.tokenizer, n=64, seed=0).induction
    posed = pose(subject, examples)
    expected, _ = reference_scores(subject, posed.input_ids, posed.attention_mask, "induction")
    got = mechtests.measure.detect.induction(subject, examples).scores
    diff = float((got - expected).abs().max())
    print(f"bundled ARM induction: max |mechtests - transformers| = {diff:.2e}; best head score {float(got.max()):.3f}")
    assert diff <= 1e-4
