"""Attention heads the classic circuits are made of: induction and previous-token heads.

Source: the induction circuit (Olsson et al. 2022) and PAPER finding 1 (on prefix-dominant
tasks the MDM keeps the ARM's pathways, so it should keep their heads).

Threshold: a head "is" an induction (previous-token) head when, on average over examples, it
puts at least 0.4 of its attention on the designated target: the token after the previous
occurrence of the current token (the previous token). 0.4 is the bar the bundled-pair issue
set before the pair was trained; we require the 95% bootstrap interval's lower end to clear
it, so the verdict does not hinge on which examples were drawn: holds when the interval lies at
or above 0.4, fails when it lies below, inconclusive when it straddles 0.4. Scores count only the mass on
the target position, so a bidirectional head earns nothing by spreading into the future.
"""

from __future__ import annotations

import mechtests

THRESHOLD = 0.4


@mechtests.hypothesis(
    claim="Some head attends from a repeated token to the token after its previous occurrence",
    source="induction circuit; PAPER finding 1",
    expect={"arm": "holds", "mdm": "holds"},
)
def test_induction_heads_present(subject, tasks):
    scores = mechtests.detect.induction(subject, tasks.induction)
    mechtests.record("induction score by head", scores.scores)
    assert scores.best() >= THRESHOLD


@mechtests.hypothesis(
    claim="Some head attends from each token to the token just before it",
    source="induction circuit (its first half); PAPER finding 1",
    expect={"arm": "holds", "mdm": "holds"},
)
def test_previous_token_heads_present(subject, tasks):
    scores = mechtests.detect.previous_token(subject, tasks.induction)
    mechtests.record("previous-token score by head", scores.scores)
    assert scores.best() >= THRESHOLD
