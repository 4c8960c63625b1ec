"""Where in depth each model computes a task: front-loading, its robustness, and its causal test.

Source: PAPER findings 2, 3 and 5. "Early layers" are the first half of the layers (layers
0-1 of the bundled pair's 4), fixed before any run; a layer's share is its fraction of the
total |EAP-IG attribution| of heads and MLPs (in- and out-edges). Both models are measured on
the same common-correct pool; intervals are paired bootstraps over its examples. Every part is
judged on its interval: clear of its bar on the claimed side holds, clear on the other side
fails, straddling it is inconclusive.
"""

from __future__ import annotations

from functools import partial

import numpy as np

import mechtests
from mechtests import study
from mechtests.claims import figures
from mechtests.stats import Estimate, bootstrap, independent_difference, interval, paired_difference, profile_bands
from mechtests.tasks import TASKS, TaskSet

GLOBAL, PREFIX = "globally-constrained", "prefix-dominant"
PROMPT_SEED_OFFSETS = (1, 2)  # the robustness variants' fresh prompt samples: the run seed + 1, + 2


def _attributions_of(attributions, *, task: str, denoise_steps: int = 1) -> None:
    attributions(task, denoise_steps=denoise_steps)


def _prompt_pools(pair, make_pools, mech_budget, seed: int):
    """Common-correct pools of a fresh prompt sample drawn with `seed`."""
    return make_pools(TaskSet(pair.arm.tokenizer, n=mech_budget.candidates, seed=seed), size=mech_budget.check_pool)


def _prompt_attributions(pair, pools, make_pools, mech_seed, mech_budget, *, offset: int, task: str) -> None:
    """A part: a fresh sample's attributions on `task`, only where the run's own sample has a pool
    for it (the hypothesis compares those tasks alone; NotApplicable otherwise, before any fresh
    candidate is answered)."""
    pools[task]
    _prompt_pools(pair, make_pools, mech_budget, mech_seed + offset).attributions(task)


def _early_ablation(pair, pools, attributions, mech_seed, *, task: str):
    """The MDM's 3 early-layer components with the most |attribution| on `task`, and their
    mean-ablation against random and middle/late-layer controls."""
    mdm = pair.mdm
    _, mdm_attr = attributions(task)
    targets = study.top_components(mdm_attr.scores, mdm_attr.graph, 3, range(mdm.n_layers // 2))
    return targets, study.ablation(mdm, task, pools[task], targets, method="mean",
                                   band=(mdm.n_layers // 2, mdm.n_layers), seed=mech_seed, controls=("random",))


def _front_loading(attributions, tasks: list[str]) -> np.ndarray:
    """Per example of the tasks: MDM early share minus ARM early share (same example)."""
    diffs = []
    for task in tasks:
        arm, mdm = attributions(task)
        diffs.append(study.early_shares(mdm) - study.early_shares(arm))
    return np.concatenate(diffs)


def _circuit_front_loading(attributions, sizes: dict[str, int], seed: int) -> np.ndarray:
    """MDM - ARM early share of the top-K circuits (K per task: `sizes`), mean over the tasks, on
    the pool (entry 0) and its bootstrap resamples (the circuits recomputed on every resample)."""
    draws = []
    for task, k in sizes.items():
        arm, mdm = attributions(task)
        share = lambda scores, g=arm.graph, k=k: study.circuit_early_share(scores, g, k)  # noqa: E731
        draws.append(study.resampled([arm, mdm], lambda a, m: share(m) - share(a), seed))
    return np.mean(draws, axis=0)


@mechtests.hypothesis(
    claim="On globally constrained tasks the MDM puts more of its attribution in early layers than the ARM; on prefix-dominant tasks it does not",
    source="PAPER finding 2",
    expect={"pair": "fails"},
    parts={task: partial(_attributions_of, task=task) for task in TASKS},
    reason="bundled pair (built with seed 1, run seed 0): reversed; on globally constrained tasks the MDM's early-layer share is LOWER "
    "than the ARM's by 0.116 [0.108, 0.124], while on prefix-dominant tasks it is higher by 0.009 [0.006, 0.012]",
)
def test_mdm_front_loads_global_tasks(pair, attributions, regime_tasks, mech_seed):
    """Threshold: zero. On globally constrained tasks the interval of (MDM - ARM) early share lies
    above 0; on prefix-dominant tasks it lies below 0 (the MDM puts no more of its attribution
    early; an interval around 0 cannot tell, and is inconclusive)."""
    claims = []
    tasks = {regime: regime_tasks(regime) for regime in (GLOBAL, PREFIX)}
    for regime in (GLOBAL, PREFIX):
        e = bootstrap(_front_loading(attributions, tasks[regime]), seed=mech_seed, name=f"{regime}: MDM - ARM early-layer share")
        mechtests.record(e.name, e, **figures.point("MDM - ARM early-layer share", x=regime))
        claims.append(e >= 0.0 if regime == GLOBAL else e < 0.0)
    for task in tasks[GLOBAL] + tasks[PREFIX]:
        arm, mdm = attributions(task)
        mechtests.record(f"{task}: attribution by layer, ARM", profile_bands(study.resampled(
            [arm], lambda s: mechtests.contrasts.depth_profile(s, arm.graph).share, mech_seed)), **figures.profile(f"{task}: attribution by layer", "ARM"))
        mechtests.record(f"{task}: attribution by layer, MDM", profile_bands(study.resampled(
            [mdm], lambda s: mechtests.contrasts.depth_profile(s, mdm.graph).share, mech_seed)), **figures.profile(f"{task}: attribution by layer", "MDM"))
    assert all(claims)


@mechtests.hypothesis(
    claim="Ablating the MDM's early high-attribution components hurts a global task more than random or middle/late-layer controls",
    source="PAPER finding 3",
    expect={"pair": "holds"},
    parts={task: partial(_early_ablation, task=task) for task in study.tasks_in(GLOBAL)},
)
def test_mdm_early_components_are_causal(pair, pools, attributions, regime_tasks, mech_seed):
    """Targets: the 3 heads/MLPs of the early layers with the most |attribution| in the MDM, mean-
    ablated on each globally constrained task. Controls: random sets of as many components (any
    layer) and sets from the middle/late layers (the second half), the budget's control draws (10) and more
    until their mean drop is known to 10%. Threshold: zero; the paired difference target -
    control, its interval resampling examples and control draws together, lies above 0, for
    both controls, on every globally constrained task."""
    claims = []
    for task in regime_tasks(GLOBAL):
        targets, result = _early_ablation(pair, pools, attributions, mech_seed, task=task)
        mechtests.record(f"{task}: ablated", len(targets), components=", ".join(map(str, targets)))
        for family, name in (("random", "random"), ("band", "middle/late")):
            claims.append(result.against(family, paired_difference, seed=mech_seed, name=f"{task}: drop, early targets - {name}") >= 0.0)
        for family, name in (("target", "early targets"), ("random", "random"), ("band", "middle/late")):  # on the examples decided on
            mechtests.record(f"{task}: drop, {name}", bootstrap(result.effect(family), seed=mech_seed),
                             **figures.point("MDM metric drop when ablated", x=task, series=name))
    assert all(claims)


@mechtests.hypothesis(
    claim="The front-loading pattern persists across prompt resamplings, circuit budgets and denoising step counts",
    source="PAPER finding 5",
    expect={"pair": "fails"},
    parts={**{f"prompts seed +{offset}, {task}": partial(_prompt_attributions, offset=offset, task=task)
              for offset in PROMPT_SEED_OFFSETS for task in TASKS},
           **{f"2 denoising steps, {task}": partial(_attributions_of, task=task, denoise_steps=2) for task in study.tasks_in(GLOBAL)}},
    reason="bundled pair (built with seed 1, run seed 0): what persists is the reverse pattern; in all six variants the MDM - ARM early "
    "share is negative on globally constrained tasks (-0.077 [-0.088, -0.073] to -0.123 [-0.135, -0.111]) and below the "
    "prefix-dominant share (global - prefix -0.082 to -0.135, every interval below 0)",
)
def test_depth_pattern_is_robust(pair, pools, attributions, regime_tasks, make_pools, mech_seed, mech_budget):
    """The pattern: MDM - ARM early share is positive on globally constrained tasks and larger
    there than on prefix-dominant tasks (means over tasks). Variants: two fresh prompt samples
    (seeds +1, +2; the budget's candidates and check pools, 1000 and 200 by default), two circuit
    sizes (each task's K, sized by the faithfulness curve as study.pair_circuit_size says, and
    twice it, at most every edge; each task's K and why are recorded) and two
    denoising step counts (1 and 2 steps for the MDM's multi-token answers). Thresholds: zero,
    twice per variant; the global share's interval lies above 0, and so does the interval of
    global minus prefix (the two regimes' examples resampled each on their own)."""
    variants: dict[str, tuple[Estimate, Estimate, Estimate]] = {}

    def per_example(get, tasks: dict[str, list[str]]) -> tuple[Estimate, Estimate, Estimate]:
        glob, prefix = (_front_loading(get, tasks[r]) for r in (GLOBAL, PREFIX))
        return bootstrap(glob, seed=mech_seed), bootstrap(prefix, seed=mech_seed), independent_difference(glob, prefix, seed=mech_seed)

    tasks = {regime: regime_tasks(regime) for regime in (GLOBAL, PREFIX)}
    for offset in PROMPT_SEED_OFFSETS:
        fresh = _prompt_pools(pair, make_pools, mech_budget, mech_seed + offset)
        variants[f"prompts seed {mech_seed + offset}"] = per_example(fresh.attributions, {r: fresh.with_pools(tasks[r]) for r in tasks})
    sizes = {task: study.pair_circuit_size(pair, task, pools[task], attributions(task), mech_seed) for task in tasks[GLOBAL] + tasks[PREFIX]}
    for task, size in sizes.items():
        mechtests.record(f"{task}: circuit size K", size.k, why=size.why)
    for times, variant in ((1, "circuit top K edges"), (2, "circuit top 2K edges")):
        k = {task: min(times * size.k, attributions(task)[0].graph.n_edges) for task, size in sizes.items()}
        glob, prefix = (_circuit_front_loading(attributions, {t: k[t] for t in tasks[r]}, mech_seed) for r in (GLOBAL, PREFIX))
        variants[variant] = tuple(interval(d, mech_seed) for d in (glob, prefix, glob - prefix))
    for steps in (1, 2):
        get = lambda t, k=steps: attributions(t, denoise_steps=k if study.regime_of(t) == GLOBAL else 1)  # noqa: E731
        variants[f"{steps} denoising step(s)"] = per_example(get, tasks)
    claims = []
    for name, (glob, prefix, gap) in variants.items():
        glob = glob.named(f"{name}: MDM - ARM early share, global")
        mechtests.record(glob.name, glob, **figures.point("MDM - ARM early share per variant", x=name, series=GLOBAL))
        mechtests.record(f"{name}: MDM - ARM early share, prefix", prefix,
                         **figures.point("MDM - ARM early share per variant", x=name, series=PREFIX))
        claims += [glob >= 0.0, gap.named(f"{name}: global - prefix") >= 0.0]
    assert all(claims)
