"""Each task's circuit is faithful: a small share of the edges alone recovers most of the task metric.

Source: PAPER, Method (circuits from EAP-IG scores; faithfulness validates them), measured as MIB
measures it (Mueller et al. 2025, circuit localization track; mechtests.measure.curves): the
normalised faithfulness f = (m(C) - m(empty)) / (m(M) - m(empty)) of the top edges by |EAP-IG
score| at every size of the budget's `faithfulness_grid` (% of the edges; `paper`: MIB's ten
points), every edge outside the circuit patched to its corrupted activation, and the curve's
two areas, CPR (edges by signed score, higher is better) and CMD (by |score|, 0 is best), each
with a bootstrap interval over examples.

Bars, fixed from the claim's words before any run: "most of the metric" is the budget's
faithfulness target, 0.8 (the share the circuit size K of the pair-level hypotheses must reach,
mechtests.study.circuit_size); "a small share" is at most a fifth of the edges, WITHIN = 20 %.
Why 20 %: a circuit is a minority of the model; on GPT-2 IOI, MIB's best edge rankings reach
f near 1 within about 5 % of the edges (EAP-IG-inputs' CMD is 0.03), and 20 % leaves room for
a 4-layer graph a thousand times smaller, where one edge is half a percent. The claim is judged
at the largest grid size within 20 %, on its interval: at or above 0.8 holds, below fails,
across it inconclusive. Examples: the model's own correctly answered examples (the budget's
check pool per task, 200 by default); the pair-level hypotheses use the common-correct pool.
With sequential decisions the curve, CPR and CMD are those of the first look's examples, and
each f compared with a bar grows alone to the look that decides it (each records its n).
"""

from __future__ import annotations

from functools import partial

import mechtests
from mechtests import study
from mechtests.claims import figures
from mechtests.measure.curves import smallest_faithful
from mechtests.tasks import TASKS

WITHIN = 20.0  # % of the graph's edges: "a small share"


def _own_attribution(subject, tasks, mech_budget, *, task: str):
    """The model's own correctly answered examples of `task` (the budget's check pool), its EAP-IG
    attribution on them and its faithfulness curve (all cached; the curve measured in rounds)."""
    examples = study.own_pool(subject, task, tasks[task], size=mech_budget.check_pool)
    attribution = study.attribution(subject, task, examples)
    return attribution, study.faithfulness_curve(subject, task, examples, attribution)


def _first_look(subject, tasks, mech_budget, *, task: str) -> None:
    """A part: the attribution and the curve's first look (what a verdict far from its bar needs)."""
    _, rounds = _own_attribution(subject, tasks, mech_budget, task=task)
    rounds.first()


@mechtests.hypothesis(
    claim="On every task, a circuit of at most 20% of the edges recovers at least 0.8 of the clean metric",
    source="PAPER, Method (faithfulness of EAP-IG circuits); MIB's faithfulness curve (Mueller et al. 2025)",
    expect={"arm": "fails", "mdm": "fails"},
    reason="bundled pair (built with seed 1, run seed 0): at 20% of the edges (41 of 207) induction and infilling recover "
    "0.90-0.99 in both models, but countdown does not (ARM 0.736 [0.707, 0.764], MDM 0.751 [0.716, 0.784]), nor does the "
    "MDM's ioi (0.602 [0.569, 0.635]) or greater-than (0.714 [0.669, 0.756]); every task reaches 0.8 at 50% (103 edges)",
    parts={task: partial(_first_look, task=task) for task in TASKS},
)
def test_task_circuits_are_faithful(subject, tasks, own_tasks, mech_seed, mech_budget):
    target = mech_budget.faithfulness_target
    claims = []
    for task in own_tasks(subject, list(tasks)):
        attribution, rounds = _own_attribution(subject, tasks, mech_budget, task=task)
        within = max((i for i, p in enumerate(rounds.percents) if p <= WITHIN), default=0)
        f = rounds.faithfulness_at(within, mech_seed).named(f"{task}: faithfulness at {rounds.percents[within]:g}% ({rounds.sizes[within]} edges)")
        claims.append(f >= target)
        size = smallest_faithful(rounds, target, mech_seed)  # on the pair's pool, this rule sizes the pair-level circuits
        mechtests.record(f"{task}: smallest faithful circuit", size.k, why=size.why)
        curve = rounds.first()  # the whole curve on the first look's examples; a size a decision grew is measured further alone
        rows = [[p, e.value, e.lo, e.hi] for p, e in zip(curve.percents, curve.faithfulness(mech_seed))]
        mechtests.record(f"{task}: faithfulness curve", rows, n=len(curve.clean),
                         **figures.curve(f"{task}: faithfulness by circuit size", subject.kind.upper()))
        mechtests.record(f"{task}: CPR", curve.cpr(mech_seed), ranking="signed score", grid=str(curve.percents))
        mechtests.record(f"{task}: CMD", curve.cmd(mech_seed), ranking="|score|", grid=str(curve.percents))
        summed, gap = attribution.completeness()
        mechtests.record(f"{task}: EAP-IG completeness error", abs(summed - gap) / max(abs(gap), 1e-12), steps=attribution.steps)
    assert all(claims)
