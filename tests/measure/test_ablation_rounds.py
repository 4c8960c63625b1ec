"""A targeted ablation measured in rounds (issue #26): at the whole pool it measures what
targeted_ablation measures, a look measures only its new examples, and a clear claim is decided
on the first look's examples."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from measure_helpers import copy_examples
from mechtests.claims import evidence
from mechtests.errors import MechtestsError
from mechtests.measure.ablation_rounds import ablation_rounds
from mechtests.measure.ablations import targeted_ablation
from mechtests.models import Site
from mechtests.run import budget as run_budget
from mechtests.stats import sequential

POOL = 40
ARGS = {"method": "mean", "n_controls": 3, "max_controls": 9, "seed": 4, "band": (1, 2)}
TARGETS = [Site("head", 0, 1)]


@pytest.fixture(scope="module")
def pool():
    return copy_examples(POOL)


def test_at_the_whole_pool_it_measures_what_targeted_ablation_measures(subjects, pool):
    subject = subjects("llama", "arm")
    full = targeted_ablation(subject, pool, TARGETS, **ARGS)
    rounds = ablation_rounds(subject, pool, TARGETS, **ARGS)
    assert torch.allclose(rounds.target(POOL), full.target, atol=1e-5)
    for family in ("random", "same_depth", "band"):
        assert torch.allclose(rounds.controls(family, POOL), getattr(full, family), atol=1e-5)
        assert rounds.precision(family)["draws"] == full.precision(family)["draws"]


def test_a_later_look_measures_only_its_new_examples_and_draws(subjects, pool):
    subject = subjects("llama", "arm")
    rounds = ablation_rounds(subject, pool, TARGETS, **ARGS)
    first = rounds.controls("random", 8).clone()
    assert rounds.effects["random"].shape[1] == 8
    later = rounds.controls("random", POOL)
    whole = ablation_rounds(subject, pool, TARGETS, **ARGS).controls("random", POOL)
    assert torch.allclose(later, whole, atol=1e-5)  # measured in two pieces or at once: the same effects
    kept = rounds.effects["random"]  # every set measured so far, on every example measured so far
    assert kept.shape == (first.shape[0], POOL) and torch.equal(kept[:, :8], first)
    assert later.shape[0] <= first.shape[0]  # each look uses the draws the precision rule needs on its examples


def test_a_clear_claim_is_decided_on_the_first_look(subjects, pool):
    subject = subjects("llama", "arm")
    rounds = ablation_rounds(subject, pool, TARGETS, **ARGS)
    clean = torch.ones(POOL)  # a share of the effect per unit of clean metric: the effect's mean
    looks = replace(run_budget.active(), sequential=True, first_round=8)  # looks at 8, 16, 32 and 40 examples
    with run_budget.using(looks), evidence.collecting(lambda entry: None):
        assert sequential.active()
        share = rounds.share_lost("random", clean, seed=0, name="share lost, random")
        assert share >= -1e6 and share.n == 8
    assert rounds.effects["random"].shape[1] == 8 and "target" not in rounds.effects


def test_bad_arguments_are_refused_as_targeted_ablation_refuses_them(subjects, pool):
    with pytest.raises(MechtestsError, match="n_controls"):
        ablation_rounds(subjects("llama", "arm"), pool, TARGETS, n_controls=5, max_controls=3)
    rounds = ablation_rounds(subjects("llama", "arm"), pool, TARGETS, n_controls=3, max_controls=3, controls=("random",))
    with pytest.raises(MechtestsError, match="no 'same_depth'"):
        rounds.share_lost("same_depth", torch.ones(POOL), seed=0)
    with pytest.raises(MechtestsError, match="pool of 40"):
        rounds.share_lost("random", torch.ones(8), seed=0)
