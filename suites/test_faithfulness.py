"""Each task's circuit is faithful: its top-K edges alone recover most of the task metric.

Source: PAPER, Method (circuits as the top-K edges by EAP-IG; faithfulness validates them).

Circuit: the top 5% of the graph's edges by |EAP-IG score| (mechtests.circuits.budget: the
paper keeps well under 1% of a 7B graph's edges; a 190-edge graph needs a larger share to
hold a circuit at all). Faithfulness = (m_circuit - m_corrupted) / (m_clean - m_corrupted),
every edge outside the circuit patched to its corrupted activation. Threshold: "most of the
metric" is more than half, 0.5, for every task. Examples: the model's own correctly answered
examples (up to 200 per task); the pair-level hypotheses use the common-correct pool instead.
"""

from __future__ import annotations

import mechtests
from mechtests import study
from mechtests.circuits import edge_patched_metric, top_edges
from mechtests.stats import bootstrap, normalised

MOST = 0.5
EXAMPLES = 200


@mechtests.hypothesis(
    claim="On every task, the top-K circuit alone recovers most of the clean metric",
    source="PAPER, Method (faithfulness of EAP-IG circuits)",
    expect={"arm": "fails", "mdm": "fails"},
    reason="bundled pair (seed 0): 10-edge circuits recover induction (ARM 0.62, MDM 0.70) but not ioi (0.08, "
    "0.05), greater_than (0.02, 0.00), countdown (0.29, 0.18) or infilling (0.36, -0.15; 68 examples)",
)
def test_task_circuits_are_faithful(subject, tasks, mech_seed):
    unfaithful = []
    for task in tasks:
        examples = study.own_pool(subject, task, tasks[task], size=EXAMPLES)
        attribution = study.attribution(subject, task, examples)
        circuit = top_edges(attribution)
        m_circuit, m_clean, m_corrupt = edge_patched_metric(subject, examples, circuit.mask)
        faith = bootstrap(m_circuit, m_corrupt, m_clean, statistic=normalised, seed=mech_seed)
        summed, gap = attribution.completeness()
        mechtests.record(f"{task}: faithfulness (K={circuit.k})", faith, threshold=MOST)
        mechtests.record(f"{task}: EAP-IG completeness error", abs(summed - gap) / max(abs(gap), 1e-12), steps=attribution.steps)
        if not faith.value > MOST:
            unfaithful.append(f"{task} {faith.value:.2f}")
    assert not unfaithful, f"circuits recovering at most {MOST} of the metric: {', '.join(unfaithful)}"
