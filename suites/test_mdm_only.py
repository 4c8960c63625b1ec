"""What only an MDM has: induction in the other direction, mechanisms over mask ratios, moving sinks.

Source: issue #28 and the 2025-2026 findings on diffusion LMs it cites (docs/mdm-only.md):
attention sinks move across denoising steps (arXiv 2510.15731); what is masked changes what an
MDM computes, early in denoising almost everything, late almost nothing (2605.10971,
2607.01774); with the right context visible, an MDM can copy backward, which no ARM can.

Sizes come from the run budget: `check_pool` examples (200 by default, 50 for `quick`) for
every measurement here, as for the other checks that repeat per variant (here per mask ratio
or denoising step); EAP-IG with the budget's steps. Every interval is a bootstrap over the
examples with the run's seed; the models are compared on the same examples, paired.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

import mechtests
from mechtests import study
from mechtests.claims import figures, sweeps
from mechtests.claims.outcomes import NotApplicable
from mechtests.measure import mask_sweep, sinks
from mechtests.measure.backward import backward_induction
from mechtests.measure.detect import repeated_tokens
from mechtests.queries import evaluate
from mechtests.run import cache
from mechtests.stats import bootstrap, sample_key
from mechtests.tasks import MDM_ONLY_TASKS, induction_vocabulary
from mechtests.tasks.induction import LENGTH

LIFT = 3.0  # the bar suites/test_heads.py holds an induction head to (its docstring gives the reason): the mirror gets the same
COPY_BAR = 0.5  # answers at least half of the backward copies
SLOPE_BAR = 0.05  # early-layer share per unit of mask ratio
GLOBAL = "globally-constrained"


@mechtests.hypothesis(
    claim="The MDM has backward induction heads (from a token to the token before its next occurrence) that the ARM lacks",
    source="issue #28: an MDM can copy in both directions; the mirror of the induction circuit",
    expect={"pair": "fails"},
    reason="bundled pair (built with seed 1, run seed 0): the MDM's best backward induction head, 3.3, puts 0.084 [0.080, 0.088] "
    "of its attention on the target, 1.93 [1.83, 2.02] times uniform attention, below 3 (its best forward induction head "
    "about 0.87); the ARM's put exactly 0 (causal attention)",
)
def test_mdm_has_backward_induction_heads(pair, mech_budget, mech_seed):
    """Threshold: the MDM's best head at least LIFT = 3 times its uniform-attention score (the chance
    level of a head spreading its attention over every key: suites/test_heads.py's relative bar, for
    the same reason: an absolute score does not transfer between a 4-layer and a 30-layer model), and
    the ARM's best head below that chance level (causal attention cannot reach a later token).
    Input: random sequences of the induction task's tokens repeated once (every token of the first
    half has a later occurrence), `check_pool` of them, drawn with the run's seed."""
    start, pool = induction_vocabulary(pair.arm.tokenizer)
    ids = repeated_tokens(pool, n=mech_budget.check_pool, length=(LENGTH - 1) // 2, seed=mech_seed, bos=start[0] if start else None)
    scores = {}
    for kind, model in (("ARM", pair.arm), ("MDM", pair.mdm)):
        scores[kind] = backward_induction(model, ids)
        mechtests.record(f"backward induction score by head, {kind}", scores[kind].scores.tolist())
    best, chance = scores["MDM"].best(), scores["MDM"].uniform()
    mechtests.record(f"MDM: {best.name}", best)
    mechtests.record(f"MDM: {chance.name}", chance)
    claims = [(best / chance).named(f"MDM: {best.name} / uniform attention") >= LIFT,
              scores["ARM"].best().named(f"ARM: {scores['ARM'].best().name}") < chance.value]
    assert all(claims)


@mechtests.hypothesis(
    claim="The MDM fills a masked token to the left of a repeat by copying the token before the repeat's other occurrence",
    source="issue #28: induction in both directions (mechtests.tasks.backward_copy)",
    expect={"mdm": "fails"},
    reason="bundled pair (built with seed 1, run seed 0): the MDM answers 0.01 [0, 0.025] of them, chance level: its training "
    "never posed this layout, and it has no backward induction head to copy with",
)
def test_mdm_copies_backward(subject, tasks, mech_budget):
    """Threshold: 0.5; at least half the copies right (the forward induction task, which this one
    mirrors, is answered at 1.000 by both bundled models; chance is a few percent). The ARM
    cannot answer: it reads only the start token before the slot (not applicable, not a failure)."""
    if not subject.is_mdm:
        raise NotApplicable("cannot answer (causal attention): the answer lies to the left of the span it is copied from")
    examples = MDM_ONLY_TASKS["backward_copy"].generate(subject.tokenizer, mech_budget.check_pool, tasks.seed)
    metric, right = evaluate(subject, examples)
    mechtests.record("logit difference, correct - wrong", bootstrap(metric.numpy(), seed=tasks.seed, sample=sample_key(examples)))
    assert bootstrap(right.float().numpy(), seed=tasks.seed, name="backward copies answered", sample=sample_key(examples)) >= COPY_BAR


def _mask_ratio_measurements(pools, mech_budget, mech_seed, *, task: str):
    """(pool, the MDM's early-share profile over the mask-ratio grid, the ARM's early shares) on the
    first `check_pool` examples of the task's common-correct pool. Ratio 0 is the plain pose, so
    both models' shares there come from the pool's attributions that the depth suites compute
    too (rows are independent of their batch); the masked ratios are cached as study caches those."""
    pool = pools[task][: mech_budget.check_pool]
    arm, mdm = pools.attributions(task)
    params = {"grid": mask_sweep.GRID[1:], "seed": mech_seed, "steps": mech_budget.ig_steps, "early": study.EARLY}
    masked = cache.cached(cache.cache_key(pools.pair.mdm, task, pool, "mask-ratio early share", params), lambda: {"values": torch.from_numpy(
        mask_sweep.early_share(pools.pair.mdm, pool, mask_sweep.GRID[1:], mech_seed, mech_budget.ig_steps, study.EARLY).values)})
    values = np.column_stack([study.early_shares(mdm)[: len(pool)], masked["values"].numpy()])
    return pool, mask_sweep.RatioProfile(mask_sweep.GRID, values, "early-layer share", sample_key(pool)), study.early_shares(arm)[: len(pool)]


@mechtests.hypothesis(
    claim="The MDM's task attribution moves with the mask ratio: its early-layer share changes as more of the context is masked",
    source="issue #28; denoising-time dynamics of diffusion LMs (arXiv 2605.10971, 2607.01774)",
    expect={"pair": "inconclusive"},
    parts={task: partial(_mask_ratio_measurements, task=task) for task in study.tasks_in(GLOBAL)},
    reason="bundled pair (built with seed 1, run seed 0): on infilling the early share falls from 0.622 to 0.517 as the mask "
    "ratio goes from 0 to 0.75 (slope -0.124 [-0.164, -0.084]: holds); on countdown its slope, -0.022 [-0.056, 0.011], "
    "has a size 0.022 [0.001, 0.056] that straddles 0.05",
)
def test_mdm_attribution_moves_with_mask_ratio(pair, pools, regime_tasks, mech_budget, mech_seed):
    """Threshold: 0.05 per unit of mask ratio on the size of the slope (|mean per-example
    least-squares slope| over the grid 0, 0.25, 0.5, 0.75, bootstrap over the examples): an
    early-layer share that changes by under 0.05 from nothing masked to everything is no move of
    where the task is computed. Holds on a globally constrained task when the interval lies at or
    above 0.05, fails below it; every globally constrained task with a pool must hold. The ARM,
    which has no mask ratio, is the reference line: its early share on the same examples, and its
    correctness there (1 on a common-correct pool, against which the MDM's fall is read)."""
    claims = []
    for task in regime_tasks(GLOBAL):
        pool, profile, arm_shares = _mask_ratio_measurements(pools, mech_budget, mech_seed, task=task)
        chart, correct_chart = f"{task}: early-layer share by mask ratio", f"{task}: correct by mask ratio"
        for ratio, point in zip(profile.ratios, profile.points()):
            mechtests.record(f"{task}: MDM {point.name}", point, **sweeps.at(chart, ratio, "MDM"))
        arm_share = bootstrap(arm_shares, seed=mech_seed, name="early-layer share", sample=sample_key(pool))
        mechtests.record(f"{task}: ARM early-layer share", arm_share, **sweeps.reference(chart, "ARM"))
        correct = mask_sweep.correctness(pair.mdm, pool, seed=mech_seed)
        for ratio, point in zip(correct.ratios, correct.points()):
            mechtests.record(f"{task}: MDM {point.name}", point, **sweeps.at(correct_chart, ratio, "MDM"))
        arm_right = bootstrap(study.correctness(pair.arm, task, pool).float().numpy(), seed=mech_seed, name="correct")
        mechtests.record(f"{task}: ARM correct", arm_right, **sweeps.reference(correct_chart, "ARM"))
        mechtests.record(f"{task}: MDM {correct.slope().name}", correct.slope())
        mechtests.record(f"{task}: MDM {profile.slope().name}", profile.slope())
        claims.append(profile.slope_size().named(f"{task}: size of the MDM's early-share slope") >= SLOPE_BAR)
    assert all(claims)


@mechtests.hypothesis(
    claim="Attention sinks in the MDM move across denoising steps more than the ARM's move as it reads the same context",
    source="attention sinks in diffusion LMs (arXiv 2510.15731)",
    expect={"pair": "holds"},
    reason="bundled pair (built with seed 1, run seed 0): the MDM's sinks stay over 0.777 [0.764, 0.790] of the steps, the "
    "ARM's over 0.992 [0.988, 0.995]; the difference -0.215 [-0.228, -0.202]",
)
def test_mdm_sinks_move_across_denoising_steps(pair, tasks, mech_budget, mech_seed):
    """Threshold: zero on the paired difference, MDM - ARM sink stability (the share of consecutive
    steps whose sink stays, averaged over layers; mechtests.measure.sinks), over `check_pool`
    induction examples (the longest task), 4 steps revealing the context in quarters. Holds when
    the interval lies below 0 (the MDM's sinks move more), fails above, inconclusive across it."""
    examples = tasks.induction[: mech_budget.check_pool]
    stable = {"ARM": sinks.stability(sinks.arm_trajectory(pair.arm, examples)).numpy(),
              "MDM": sinks.stability(sinks.mdm_trajectory(pair.mdm, examples, seed=mech_seed)).numpy()}
    for kind, values in stable.items():
        est = bootstrap(values, seed=mech_seed, name=f"{kind} sink stability over {sinks.STEPS} steps", sample=sample_key(examples))
        mechtests.record(est.name, est, **figures.point("sink stability over denoising steps", x="induction", series=kind))
    diff = bootstrap(stable["MDM"] - stable["ARM"], seed=mech_seed, name="MDM - ARM sink stability", sample=sample_key(examples))
    assert diff < 0.0
