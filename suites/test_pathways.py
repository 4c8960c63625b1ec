"""Does the MDM keep the ARM's pathways? Edge overlap of the two models' circuits, and whether
the ARM's circuit still carries the task inside the MDM.

Source: PAPER findings 1 and 2. Both models are measured on the same common-correct pool
(up to 500 examples per task that both answer correctly), with EAP-IG (8 steps) and the top
5% of edges as each model's circuit. Intervals: bootstrap over the pool's examples, the same
resample for both models, the circuits recomputed on every draw.
"""

from __future__ import annotations

import numpy as np

import mechtests
from mechtests import figures, study
from mechtests.circuits import top_edges
from mechtests.compare import overlap
from mechtests.models import Site
from mechtests.stats import bootstrap, paired_difference

FRACTION = 0.05
WELL_ABOVE = 2.0  # "well above the null": at least twice the random-circuit Jaccard
FAR_MORE = 2.0  # "far more than random": at least twice the random components' drop


def _overlaps(attributions, tasks: list[str], seed: int) -> dict[str, np.ndarray]:
    """task -> edge Jaccard of the two circuits on the pool (entry 0) and on bootstrap resamples."""
    out = {}
    for task in tasks:
        arm, mdm = attributions(task)
        out[task] = study.resampled([arm, mdm], study.edge_jaccard(arm.graph, FRACTION), seed)
    return out


@mechtests.hypothesis(
    claim="On prefix-dominant tasks the two models' circuits overlap well above random circuits of equal size",
    source="PAPER finding 1",
    expect={"pair": "holds"},
)
def test_prefix_pathways_preserved(pair, attributions, mech_seed):
    """Threshold: the Jaccard interval's lower end is at least twice the null mean and above the
    null's 97.5th percentile (random K-edge circuits of the same graph, 1000 draws)."""
    failing = []
    for task, draws in _overlaps(attributions, study.tasks_in("prefix-dominant"), mech_seed).items():
        arm, mdm = attributions(task)
        null = overlap(top_edges(arm, fraction=FRACTION), top_edges(mdm, fraction=FRACTION), seed=mech_seed)
        est = study.interval(draws, mech_seed)
        bar = max(WELL_ABOVE * null.null_mean, null.null_hi)
        mechtests.record(f"{task}: edge Jaccard", est, threshold=bar, null_mean=null.null_mean,
                         **figures.point("edge Jaccard per task", x=task, band=(null.null_lo, null.null_hi)))
        for label, attr in (("ARM", arm), ("MDM", mdm)):
            mechtests.record(f"{task}: {label} circuit", _grid(attr), **_circuit_chart(task, label, attr))
        if est.lo < bar:
            failing.append(f"{task} {est.value:.2f} [{est.lo:.2f}, {est.hi:.2f}] vs {bar:.2f}")
    assert not failing, "overlap not well above the null: " + "; ".join(failing)


@mechtests.hypothesis(
    claim="On globally constrained tasks the circuits overlap less than on prefix-dominant tasks",
    source="PAPER finding 2",
    expect={"pair": "holds"},
)
def test_global_pathways_reorganised(pair, attributions, mech_seed):
    """Threshold: the intervals do not overlap: the mean Jaccard over globally constrained tasks
    has an upper end below the lower end of the mean over prefix-dominant tasks."""
    regimes = {}
    for regime in ("prefix-dominant", "globally-constrained"):
        per_task = _overlaps(attributions, study.tasks_in(regime), mech_seed)
        draws = np.mean(list(per_task.values()), axis=0)
        regimes[regime] = est = study.interval(draws, mech_seed)
        mechtests.record(f"{regime}: mean edge Jaccard", est, **figures.point("mean edge Jaccard per regime", x=regime))
        for task, task_draws in per_task.items():
            arm, mdm = attributions(task)
            null = overlap(top_edges(arm, fraction=FRACTION), top_edges(mdm, fraction=FRACTION), seed=mech_seed)
            mechtests.record(f"{task}: edge Jaccard", study.interval(task_draws, mech_seed), null_mean=null.null_mean,
                             **figures.point("edge Jaccard per task", x=task, series=regime, band=(null.null_lo, null.null_hi)))
            if regime == "globally-constrained":
                for label, attr in (("ARM", arm), ("MDM", mdm)):
                    mechtests.record(f"{task}: {label} circuit", _grid(attr), **_circuit_chart(task, label, attr))
    prefix, glob = regimes["prefix-dominant"], regimes["globally-constrained"]
    assert glob.hi < prefix.lo, f"global overlap {glob.value:.2f} [{glob.lo:.2f}, {glob.hi:.2f}] vs prefix {prefix.value:.2f} [{prefix.lo:.2f}, {prefix.hi:.2f}]"


@mechtests.hypothesis(
    claim="Ablating the ARM's prefix-task circuit components inside the MDM hurts the MDM far more than random components",
    source="PAPER finding 1 (the inherited circuit remains causal)",
    expect={"pair": "holds"},
)
def test_arm_circuit_causal_in_mdm(pair, pools, attributions, mech_seed):
    """Targets: the heads and MLPs of the ARM's top-K circuit (by node score, at most 6) on each
    prefix-dominant task, mean-ablated in the MDM on the same pool. Threshold: their mean drop
    in the MDM's metric is at least twice that of 10 random sets of as many components, and the
    paired difference's interval lies above zero."""
    failing = []
    for task in study.tasks_in("prefix-dominant"):
        arm_attr, _ = attributions(task)
        targets = _circuit_components(top_edges(arm_attr, fraction=FRACTION))
        result = study.ablation(pair.mdm, task, pools[task], targets, method="mean", n_controls=10, seed=mech_seed)
        random = result.random.mean(0)
        diff = bootstrap(result.target, random, statistic=paired_difference, seed=mech_seed)
        ratio = float(result.target.mean() / random.mean().clamp_min(1e-6))
        mechtests.record(f"{task}: MDM drop, ARM circuit ({len(targets)} components)", bootstrap(result.target, seed=mech_seed),
                         components=", ".join(map(str, targets)), **figures.point("MDM metric drop when ablated", x=task, series="ARM circuit"))
        mechtests.record(f"{task}: MDM drop, random components", bootstrap(random, seed=mech_seed),
                         **figures.point("MDM metric drop when ablated", x=task, series="random components"))
        mechtests.record(f"{task}: drop difference", diff, threshold=0.0, ratio=ratio)
        if ratio < FAR_MORE or diff.lo <= 0:
            failing.append(f"{task} ratio {ratio:.2f}, difference {diff.value:.3f} [{diff.lo:.3f}, {diff.hi:.3f}]")
    assert not failing, "ARM circuit not far more causal than random in the MDM: " + "; ".join(failing)


def _grid(attr) -> list[list[int]]:
    """The model's top-K circuit as edges on the layer grid, for the report's circuit drawing."""
    return figures.grid_edges(top_edges(attr, fraction=FRACTION).edges(), attr.graph.n_layers, attr.graph.n_heads)


def _circuit_chart(task: str, label: str, attr) -> dict:
    return figures.circuit(f"{task}: both circuits (top {FRACTION:.0%} edges)", label, attr.graph.n_layers, attr.graph.n_heads)


def _circuit_components(circuit, limit: int = 6) -> list[Site]:
    """The circuit's heads and MLPs ranked by |node score| (embed and logits sit at no layer)."""
    ranked = sorted(circuit.node_scores().items(), key=lambda kv: -abs(kv[1]))
    return [study.node_site(name) for name, score in ranked if score != 0 and name not in ("embed", "logits")][:limit]
