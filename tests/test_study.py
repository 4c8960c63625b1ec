"""The suites' shared pipeline: pools, cached attributions, resampled statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import mechtests
from mechtests.run import budget as run_budget
from mechtests import study
from mechtests.run import cache
from mechtests.errors import MechtestsError
from mechtests.models import Site
from mechtests.claims import evidence
from mechtests.claims.outcomes import NotApplicable
from mechtests.queries import Example, evaluate
from mechtests.stats import interval


def _examples(n: int, seed: int = 0) -> list[Example]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        tokens = torch.randint(5, 60, (10,), generator=g).tolist()
        corrupted = torch.randint(5, 60, (10,), generator=g).tolist()
        out.append(Example(tokens=tuple(tokens), answer_positions=(9,), wrong=(5,), corrupted=tuple(corrupted)))
    return out


def _with_answers(examples: list[Example], answers: list[int]) -> list[Example]:
    out = []
    for ex, answer in zip(examples, answers):
        tokens = list(ex.tokens)
        tokens[-1] = answer
        out.append(Example(tokens=tuple(tokens), answer_positions=ex.answer_positions, wrong=ex.wrong, corrupted=ex.corrupted))
    return out


def _predictions(subject, examples: list[Example]) -> list[int]:
    return mechtests.queries.answer_logits(subject, examples)[:, 0].argmax(-1).tolist()


def test_pools_keep_only_examples_both_models_get_right(tiny_paths, isolated_cache):
    arm, mdm = (mechtests.load_subject(tiny_paths["llama", v]) for v in ("arm", "mdm"))
    base = _examples(12)
    by_arm, by_mdm = _predictions(arm, base), _predictions(mdm, base)
    # rows 0-3: the ARM's prediction is the answer; rows 0-1 also the MDM's; the rest: neither
    answers = [by_arm[i] if i < 4 else (by_arm[i] + 1) % 50 + 5 for i in range(12)]
    examples = _with_answers(base, answers)
    both = [i for i in range(12) if i < 4 and by_mdm[i] == by_arm[i]]
    with run_budget.using(dataclasses.replace(run_budget.DEFAULT, min_pool=1)):
        if both:
            assert study.common_pool(arm, mdm, "toy", examples) == [examples[i] for i in both]
        else:
            with pytest.raises(NotApplicable, match="both models answer 0 of 12"):
                study.common_pool(arm, mdm, "toy", examples)
        assert study.own_pool(arm, "toy", examples, size=3) == examples[:3]
    with pytest.raises(NotApplicable, match=r"answers 4 of 12 candidates correctly, below the default budget's minimum pool of 20"):
        study.own_pool(arm, "toy", examples)
    assert evaluate(arm, examples)[1].tolist() == [i < 4 or by_arm[i] == answers[i] for i in range(12)]


def test_an_empty_pool_is_not_applicable_even_without_a_minimum(tiny_paths, isolated_cache):
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    base = _examples(3)
    wrong = _with_answers(base, [(p + 1) % 50 + 5 for p in _predictions(arm, base)])
    with run_budget.using(dataclasses.replace(run_budget.DEFAULT, min_pool=0)):
        with pytest.raises(NotApplicable, match="toy: the ARM answers 0 of 3 candidates correctly"):
            study.own_pool(arm, "toy", wrong)


def test_attribution_is_cached_on_disk_and_keyed_by_weights(tiny_paths, isolated_cache):
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    mdm = mechtests.load_subject(tiny_paths["llama", "mdm"])
    examples = _examples(6)
    first = study.attribution(arm, "toy", examples, steps=2)
    assert len(list(isolated_cache.glob("*.safetensors"))) == 1
    cache.clear_memory()
    again = study.attribution(arm, "toy", examples, steps=2)  # from disk
    assert torch.equal(first.per_example, again.per_example)
    other = study.attribution(mdm, "toy", examples, steps=2)  # same weights bytes, other kind: its own entry
    assert len(list(isolated_cache.glob("*.safetensors"))) == 2
    assert not torch.equal(other.per_example, first.per_example)


def test_resampled_statistics_start_with_the_full_sample(tiny_paths, isolated_cache):
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    attr = study.attribution(arm, "toy", _examples(8), steps=2)
    gini = study.component_gini(attr.graph)
    draws = study.resampled([attr], gini, seed=1, n_resamples=20)
    assert draws.shape == (21,) and draws[0] == pytest.approx(gini(attr.scores))
    assert np.array_equal(draws, study.resampled([attr], gini, seed=1, n_resamples=20))  # same seed, same draws
    jaccard = study.edge_jaccard(attr.graph, k=5)
    assert jaccard(attr.scores, attr.scores) == 1.0
    est = interval(draws, seed=1)
    assert est.lo <= est.hi and est.value == draws[0]


def test_node_names_map_to_sites_and_top_components_rank_by_attribution(tiny_paths, isolated_cache):
    assert study.node_site("a1.h3") == Site("head", 1, 3)
    assert study.node_site("m0") == Site("mlp_out", 0)
    with pytest.raises(MechtestsError):
        study.node_site("logits")
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    attr = study.attribution(arm, "toy", _examples(4), steps=2)
    comp = mechtests.measure.contrasts.component_attribution(attr.scores, attr.graph)
    best = study.top_components(attr.scores, attr.graph, 1)[0]
    col = arm.n_heads if best.name == "mlp_out" else best.head
    assert comp[best.layer, col] == comp.max()
    assert all(s.layer == 0 for s in study.top_components(attr.scores, attr.graph, 3, layers=[0]))


def test_an_ablation_in_rounds_is_read_from_disk_on_a_rerun(tiny_paths, isolated_cache):
    arm = mechtests.load_subject(tiny_paths["llama", "arm"])
    examples, clean, targets = _examples(40), torch.ones(40), [Site("head", 0, 1)]
    looks = dataclasses.replace(run_budget.active(), sequential=True, first_round=8, control_draws=3, control_cap=9)
    passes = []
    with run_budget.using(looks), evidence.collecting(lambda entry: None):
        first = study.ablation(arm, "toy", examples, targets, seed=0).share_lost("random", clean, seed=0) >= 0.0
        cache.clear_memory()
        arm.model.register_forward_pre_hook(lambda *args: passes.append(1))
        again = study.ablation(arm, "toy", examples, targets, seed=0).share_lost("random", clean, seed=0) >= 0.0
    assert passes == []  # every stretch the first run measured is read back, none measured again
    assert again.estimate.n > 8 and again == first  # grown past the first look, to the same decision on the same numbers
