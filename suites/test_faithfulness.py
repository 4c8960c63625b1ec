"""Each task's circuit is faithful: its K edges alone recover most of the task metric.

Source: PAPER, Method (circuits from EAP-IG scores; faithfulness validates them), and Hanna et
al. 2024 ("Have faith in faithfulness") for how the circuit is built.

Circuit: K edges grown greedily back from the logits by |EAP-IG score|
(mechtests.measure.circuits.connected_edges), so every edge lies on a path to the output. K is the
run budget's (mechtests.measure.circuits.budget: the paper's share of the graph, at least 39 edges, the
smallest K whose edge Jaccard resolves 0.05; 39 of the bundled pair's 207). The paper's top-K
summary is recorded beside it: it need not be connected, and when it keeps a head's inputs
but not its path to the logits it recovers nothing. A 25% circuit is recorded too, to show how
many edges the metric takes. Faithfulness = (m_circuit - m_corrupted) / (m_clean - m_corrupted),
every edge outside the circuit patched to its corrupted activation. Threshold: "most of the
metric" is more than half, 0.5, for every task, at the budget's K, judged on the bootstrap
interval (below 0.5 fails, around 0.5 inconclusive). Examples: the model's own
correctly answered examples (up to the budget's check pool per task, 200 by default); the pair-level hypotheses use the
common-correct pool instead.
"""

from __future__ import annotations

from functools import partial

import mechtests
from mechtests import study
from mechtests.run import progress
from mechtests.measure.circuits import connected_edges, edge_patched_metric, top_edges
from mechtests.stats import bootstrap, normalised
from mechtests.tasks import TASKS

MOST = 0.5
WIDER = 0.25  # the larger budget recorded beside the verdict's


def _own_attribution(subject, tasks, mech_budget, *, task: str):
    """The model's own correctly answered examples of `task` (the budget's check pool) and its
    EAP-IG attribution on them."""
    examples = study.own_pool(subject, task, tasks[task], size=mech_budget.check_pool)
    return examples, study.attribution(subject, task, examples)


@mechtests.hypothesis(
    claim="On every task, a K-edge circuit alone recovers most of the clean metric",
    source="PAPER, Method (faithfulness of EAP-IG circuits)",
    expect={"arm": "holds", "mdm": "holds"},
    parts={task: partial(_own_attribution, task=task) for task in TASKS},
)
def test_task_circuits_are_faithful(subject, tasks, own_tasks, mech_seed, mech_budget):
    claims = []
    for task in own_tasks(subject, list(tasks)):
        examples, attribution = _own_attribution(subject, tasks, mech_budget, task=task)

        def faithfulness(circuit, how):
            progress.step(f"edge patching {task} ({subject.kind}): K={circuit.k}, {how}")
            m_circuit, m_clean, m_corrupt = edge_patched_metric(subject, examples, circuit.mask)
            return bootstrap(m_circuit, m_corrupt, m_clean, statistic=normalised, seed=mech_seed)

        circuit = connected_edges(attribution)
        faith = faithfulness(circuit, "connected").named(f"{task}: faithfulness (K={circuit.k}, connected)")
        claims.append(faith >= MOST)
        wider = connected_edges(attribution, fraction=WIDER)
        mechtests.record(f"{task}: faithfulness (K={wider.k}, connected)", faithfulness(wider, "connected"))
        mechtests.record(f"{task}: faithfulness (K={circuit.k}, top edges)", faithfulness(top_edges(attribution), "top edges"))
        summed, gap = attribution.completeness()
        mechtests.record(f"{task}: EAP-IG completeness error", abs(summed - gap) / max(abs(gap), 1e-12), steps=attribution.steps)
    assert all(claims)
