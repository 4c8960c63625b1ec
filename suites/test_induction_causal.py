"""The induction heads are causal for in-context copying, and not just any heads are.

Source: the induction circuit; PAPER finding 3's method (targeted ablation against random and
depth-matched controls).

Targets: every head whose induction score is at least 3 times the model's score under uniform
attention (test_heads.py's bar, relative so that it picks a 30-layer model's induction heads as
it does a 4-layer one's), at least the best one. Each is mean-ablated (replaced by its mean over
the batch) on the induction examples the model itself answers correctly (the first of them, up to
the budget's pool size, 500 by default): copying can only be lost where the model copies, so a
model that answers fewer than the budget's minimum pool makes the claim not applicable rather
than a failure measured against a clean metric near zero.
Thresholds: "destroys copying" means the ablation removes at least half of the clean logit
difference (drop >= 0.5); "does not" means a control set of as many heads removes less than
half. Controls: random sets of as many heads (any layer), and sets drawn from the targets' own
layers (from the nearest layer when the targets are every head of theirs), the budget's control draws of each (10)
and more until their mean drop is known to 10% (mechtests.measure.ablations.CONTROL_PRECISION). Fixed
from the claim's words, before any run. Each share lost is judged on its 95% interval (for the
controls, examples and control draws resampled together): clear of 0.5 on the claimed side
holds, clear on the other side fails, straddling 0.5 is inconclusive. With sequential decisions
on (the `default` and `quick` budgets), each share is measured on 64, 128, 256 examples, then the
whole pool, and decided at the first look whose interval, widened to that look's boundary, is
clear of 0.5 (mechtests.stats.sequential); the report says which look decided.
"""

from __future__ import annotations

import mechtests
from mechtests import study
from mechtests.claims import figures
from mechtests.models import Site
from mechtests.queries import evaluate

INDUCTION_LIFT = 3.0  # test_heads.py's bar: a head's score over the model's uniform-attention score
DESTROYED = 0.5


def _ablation(subject, tasks, mech_seed, mech_budget):
    """The induction examples the model copies, the heads that clear the bar (at least the best
    one) and their mean-ablation against random and same-layer controls (with sequential decisions
    on, measured only when a claim asks, on as many examples and control draws as it needs)."""
    examples = study.own_pool(subject, "induction", tasks.induction, mech_budget.pool_size)
    scores = mechtests.detect.induction(subject, examples)
    ranked, bar = scores.top(k=subject.n_layers * subject.n_heads), INDUCTION_LIFT * scores.uniform().value
    heads = [(l, h) for l, h, score in ranked if score >= bar] or [ranked[0][:2]]
    targets = [Site("head", l, h) for l, h in heads]
    return examples, targets, study.ablation(subject, "induction", examples, targets, method="mean", seed=mech_seed)


@mechtests.hypothesis(
    claim="Ablating the induction heads destroys in-context copying; as many random or same-layer heads do not",
    source="induction circuit; PAPER finding 3 (method)",
    expect={"arm": "fails", "mdm": "fails"},
    reason="bundled pair (built with seed 1, run seed 0): the four heads that clear 3x uniform attention (all of layer 1) remove all "
    "copying (ARM 1.01 [0.99, 1.03], MDM 1.00 [1.00, 1.01]), but as many heads of the nearest layer remove 0.78 "
    "[0.67, 0.89] (both models), clear of 0.5, and 4 random heads of the 16 remove 0.62 [0.49, 0.75]: in a 16-head "
    "model, four heads that are not induction heads also remove most of the copying (whole-pool intervals, as "
    "--mech-sequential=off gives them; with sequential decisions the induction heads' shares are decided on 64 "
    "examples and the same-layer ones on 128, with wider intervals, and the random ones on the whole pool)",
    parts={"ablation": _ablation},
)
def test_induction_heads_are_causal(subject, tasks, mech_seed, mech_budget):
    examples, targets, result = _ablation(subject, tasks, mech_seed, mech_budget)
    clean = _clean_metric(subject, examples)
    drop = result.share_lost("target", clean, seed=mech_seed, name="copying lost, induction heads")
    random_drop = result.share_lost("random", clean, seed=mech_seed, name="copying lost, random heads")
    layer_drop = result.share_lost("same_depth", clean, seed=mech_seed, name="copying lost, same-layer heads")
    mechtests.record("ablated heads", len(targets), heads=", ".join(str(t) for t in targets))
    chart = "share of copying lost when ablated"
    mechtests.record(drop.name, drop, **figures.point(chart, x="induction heads"))
    mechtests.record(random_drop.name, random_drop, **result.precision("random"), **figures.point(chart, x="random heads"))
    mechtests.record(layer_drop.name, layer_drop, **result.precision("same_depth"), **figures.point(chart, x="same-layer heads"))
    assert all([drop >= DESTROYED, random_drop < DESTROYED, layer_drop < DESTROYED])


def _clean_metric(subject, examples):
    return evaluate(subject, examples)[0]
