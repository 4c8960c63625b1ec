"""The head detectors' chance level (issue #31 point 3): the score of a head attending uniformly
over the keys its model allows, against closed forms (no attention read from a model enters it)."""

from __future__ import annotations

import pytest
import torch

import mechtests
from mechtests.measure.detect import repeated_tokens, uniform_probs


def test_uniform_attention_spreads_over_the_allowed_keys_only():
    attention = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])  # the second row left-padded
    causal, both = uniform_probs(attention, bidirectional=False), uniform_probs(attention, bidirectional=True)
    assert causal.shape == both.shape == (2, 1, 4, 4)
    assert torch.equal(causal[0, 0, 2], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0]))  # keys at or before the query
    assert torch.equal(both[0, 0, 2], torch.full((4,), 0.25))  # every key
    assert torch.equal(causal[1, 0, 3], torch.tensor([0.0, 0.0, 0.5, 0.5])) and torch.equal(both[1, 0, 0], torch.tensor([0.0, 0.0, 0.5, 0.5]))


@pytest.mark.parametrize("variant", ["arm", "mdm"])
def test_the_chance_level_matches_the_closed_form_for_each_direction(subjects, variant):
    """On a random sequence repeated once (2L tokens, no specials): previous-token queries are
    1..2L-1 and induction queries L..2L-1, one target each; uniform attention puts 1/(q+1) on it
    for a causal model and 1/(2L) for a bidirectional one."""
    subject = subjects("llama", variant)
    L = 6
    ids = repeated_tokens(64, n=3, length=L, seed=1)
    for detector, queries in ((mechtests.detect.previous_token, range(1, 2 * L)), (mechtests.detect.induction, range(L, 2 * L))):
        expected = 1 / (2 * L) if variant == "mdm" else sum(1 / (q + 1) for q in queries) / len(queries)
        scores = detector(subject, ids)
        torch.testing.assert_close(scores.uniform_per_example, torch.full((3,), expected), atol=1e-6, rtol=0)
        assert scores.uniform().value == pytest.approx(expected, abs=1e-6)
        ratio = scores.best() / scores.uniform()  # the same examples: a paired ratio
        assert ratio.n == 3 and ratio.value == pytest.approx(scores.best().value / expected, rel=1e-5)
        assert scores.layers(1, 1).uniform().value == pytest.approx(expected, abs=1e-6)  # the baseline does not depend on the layers kept
