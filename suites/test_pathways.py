"""Does the MDM keep the ARM's pathways? Edge overlap of the two models' circuits, and whether
the ARM's circuit still carries the task inside the MDM.

Source: PAPER findings 1 and 2. Both models are measured on the same common-correct pool
(up to 500 examples per task that both answer correctly), with EAP-IG (8 steps) and the top
K edges by |score| as each model's circuit. K is sized by the faithfulness curve
(mechtests.study.pair_circuit_size): per model and task, the smallest grid size whose
faithfulness interval clears the budget's target (0.8), and for the two models' overlap the
larger of their two, so that both circuits carry the task; the `paper` budget fixes K at 1000
as the paper did. K, why, and the Jaccard's resolution are recorded next to it. Intervals: bootstrap over the pool's examples, the same resample for both models,
the circuits recomputed on every draw; every part is judged on its interval (straddling its bar:
inconclusive).
"""

from __future__ import annotations

from functools import partial

import numpy as np

import mechtests
from mechtests import study
from mechtests.claims import figures
from mechtests.measure.circuits import top_edges
from mechtests.measure.contrasts import jaccard_resolution, overlap
from mechtests.models import Site
from mechtests.stats import bootstrap, interval, paired_difference, ratio_of_means

WELL_ABOVE = 2.0  # "well above the null": at least twice the random-circuit Jaccard
FAR_MORE = 2.0  # "far more than random": at least twice the random components' drop


def _arm_circuit_ablation(pair, pools, attributions, mech_seed, *, task: str):
    """The heads and MLPs of the ARM's top-K circuit on `task` (K: the ARM's, study.circuit_size),
    their mean-ablation in the MDM against random components, and the K with its reason."""
    arm_attr, _ = attributions(task)
    size = study.circuit_size(pair.arm, task, pools[task], arm_attr, mech_seed)
    targets = _circuit_components(top_edges(arm_attr, k=size.k))
    return targets, study.ablation(pair.mdm, task, pools[task], targets, method="mean", seed=mech_seed, controls=("random",)), size


def _sizes(pair, pools, attributions, tasks: list[str], seed: int) -> dict:
    """task -> the circuit size both models' circuits on it are compared at (study.pair_circuit_size)."""
    return {task: study.pair_circuit_size(pair, task, pools[task], attributions(task), seed) for task in tasks}


def _overlaps(attributions, sizes: dict, seed: int) -> dict[str, np.ndarray]:
    """task -> edge Jaccard of the two top-K circuits on the pool (entry 0) and on bootstrap resamples."""
    out = {}
    for task, size in sizes.items():
        arm, mdm = attributions(task)
        out[task] = study.resampled([arm, mdm], study.edge_jaccard(arm.graph, size.k), seed)
    return out


@mechtests.hypothesis(
    claim="On prefix-dominant tasks the two models' circuits overlap well above random circuits of equal size",
    source="PAPER finding 1",
    expect={"pair": "inconclusive"},
    reason="bundled pair (built with seed 1, run seed 0): induction and greater-than overlap well above random (0.864 [0.782, "
    "0.907] against a bar of 0.226; 0.731 [0.717, 0.776] against 0.665), but ioi's circuits are sized at 103 of 207 edges "
    "(the MDM's circuit reaches f >= 0.8 only at 50%), where random circuits already overlap 0.333, and its Jaccard 0.689 "
    "[0.635, 0.717] straddles twice that (0.665)",
)
def test_prefix_pathways_preserved(pair, pools, attributions, regime_tasks, mech_seed):
    """Threshold: the Jaccard interval's lower end is at least twice the null mean and above the
    null's 97.5th percentile (random K-edge circuits of the same graph, 1000 draws)."""
    claims = []
    sizes = _sizes(pair, pools, attributions, regime_tasks("prefix-dominant"), mech_seed)
    for task, draws in _overlaps(attributions, sizes, mech_seed).items():
        arm, mdm = attributions(task)
        k = sizes[task].k
        null = overlap(top_edges(arm, k=k), top_edges(mdm, k=k), seed=mech_seed)
        est = interval(draws, mech_seed, name=f"{task}: edge Jaccard")
        mechtests.record(est.name, est, null_mean=null.null_mean, k=k, why=sizes[task].why, resolution=jaccard_resolution(k),
                         **figures.point("edge Jaccard per task", x=task, band=(null.null_lo, null.null_hi)))
        claims.append(est >= max(WELL_ABOVE * null.null_mean, null.null_hi))
        for label, attr in (("ARM", arm), ("MDM", mdm)):
            mechtests.record(f"{task}: {label} circuit", _grid(attr, k), **_circuit_chart(task, label, attr, k))
    assert all(claims)


@mechtests.hypothesis(
    claim="On globally constrained tasks the circuits overlap less than on prefix-dominant tasks",
    source="PAPER finding 2",
    expect={"pair": "holds"},
)
def test_global_pathways_reorganised(pair, pools, attributions, regime_tasks, mech_seed):
    """Threshold: zero. The difference, mean Jaccard over prefix-dominant tasks minus mean Jaccard
    over globally constrained tasks, has an interval above 0 (each task's pool resampled on its
    own, the difference taken draw by draw)."""
    draws = {}
    for regime in ("prefix-dominant", "globally-constrained"):
        sizes = _sizes(pair, pools, attributions, regime_tasks(regime), mech_seed)
        per_task = _overlaps(attributions, sizes, mech_seed)
        draws[regime] = np.mean(list(per_task.values()), axis=0)
        mechtests.record(f"{regime}: mean edge Jaccard", interval(draws[regime], mech_seed),
                         **figures.point("mean edge Jaccard per regime", x=regime))
        for task, task_draws in per_task.items():
            arm, mdm = attributions(task)
            k = sizes[task].k
            null = overlap(top_edges(arm, k=k), top_edges(mdm, k=k), seed=mech_seed)
            mechtests.record(f"{task}: edge Jaccard", interval(task_draws, mech_seed), null_mean=null.null_mean, k=k,
                             why=sizes[task].why, **figures.point("edge Jaccard per task", x=task, series=regime, band=(null.null_lo, null.null_hi)))
            if regime == "globally-constrained":
                for label, attr in (("ARM", arm), ("MDM", mdm)):
                    mechtests.record(f"{task}: {label} circuit", _grid(attr, k), **_circuit_chart(task, label, attr, k))
    gap = interval(draws["prefix-dominant"] - draws["globally-constrained"], mech_seed)
    assert gap.named("prefix - global mean edge Jaccard") >= 0.0


@mechtests.hypothesis(
    claim="Ablating the ARM's prefix-task circuit components inside the MDM hurts the MDM far more than random components",
    source="PAPER finding 1 (the inherited circuit remains causal)",
    expect={"pair": "inconclusive"},
    parts={task: partial(_arm_circuit_ablation, task=task) for task in study.tasks_in("prefix-dominant")},
    reason="bundled pair (built with seed 1): more causal than random at every seed (drop difference above 0), but 'twice as "
    "causal' sits inside the noise of which random sets are drawn: at run seed 0 every ratio clears 2 by a hair (lowest "
    "2.47 [2.01, 3.10]); at run seed 1 two straddle it (induction 2.27 [1.79, 3.16], ioi 2.16 [1.97, 2.38])",
)
def test_arm_circuit_causal_in_mdm(pair, pools, attributions, regime_tasks, mech_seed):
    """Targets: the heads and MLPs of the ARM's top-K circuit (by node score, at most 6) on each
    prefix-dominant task, mean-ablated in the MDM on the same pool. Controls: random sets of as
    many components, the budget's control draws (10) and more until their mean drop is known to 10%. Thresholds: the
    ratio of mean drops (circuit / random) is at least 2, and the paired difference is above 0,
    each judged on an interval that resamples the examples and the control draws together."""
    claims = []
    for task in regime_tasks("prefix-dominant"):
        targets, result, size = _arm_circuit_ablation(pair, pools, attributions, mech_seed, task=task)
        mechtests.record(f"{task}: ARM circuit size K", size.k, why=size.why)
        claims += [result.against("random", paired_difference, seed=mech_seed, name=f"{task}: drop difference") >= 0.0,
                   result.against("random", ratio_of_means, seed=mech_seed, name=f"{task}: drop ratio, ARM circuit / random") >= FAR_MORE]
        # the drops, on the examples the claims above were decided on
        mechtests.record(f"{task}: MDM drop, ARM circuit ({len(targets)} components)", bootstrap(result.effect("target"), seed=mech_seed),
                         components=", ".join(map(str, targets)), **figures.point("MDM metric drop when ablated", x=task, series="ARM circuit"))
        mechtests.record(f"{task}: MDM drop, random components", bootstrap(result.effect("random"), seed=mech_seed), **result.precision("random"),
                         **figures.point("MDM metric drop when ablated", x=task, series="random components"))
    assert all(claims)


DRAWN_EDGES = 300  # a circuit sized by its faithfulness curve can hold 10^4-10^5 edges on a 30-layer model: draw its top ones


def _grid(attr, k: int) -> list[list[int]]:
    """The model's top-K circuit (at most its top DRAWN_EDGES) as edges on the layer grid, for the report's drawing."""
    return figures.grid_edges(top_edges(attr, k=min(k, DRAWN_EDGES)).edges(), attr.graph.n_layers, attr.graph.n_heads)


def _circuit_chart(task: str, label: str, attr, k: int) -> dict:
    drawn = f"top {k} edges" if k <= DRAWN_EDGES else f"top {DRAWN_EDGES} of {k} edges"
    return figures.circuit(f"{task}: both circuits ({drawn})", label, attr.graph.n_layers, attr.graph.n_heads)


def _circuit_components(circuit, limit: int = 6) -> list[Site]:
    """The circuit's heads and MLPs ranked by |node score| (embed and logits sit at no layer)."""
    ranked = sorted(circuit.node_scores().items(), key=lambda kv: -abs(kv[1]))
    return [study.node_site(name) for name, score in ranked if score != 0 and name not in ("embed", "logits")][:limit]
