"""Infilling: a slot whose filler is fixed only by the context on both of its sides.

MDM form: "<bos> cat red dog blue fox green yak gold ; [blue] owns dog ." -- the left context
lists animal-colour pairs, the right context names the animal, and neither alone fixes the slot.
ARM form (`Example.arm`): the right context moves before the slot, "... ; dog [blue]", since
an ARM never reads past its answer. The corrupted twin names another animal, so the answer changes.
How many pairs are listed is the task's difficulty (the run budget's `infilling_facts`; the
bundled pair's 4).
"""

from __future__ import annotations

import random

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.tasks.base import BundledTask
from mechtests.tasks.vocab import ANIMALS, BOS, COLORS, Lexicon


def facts_checked(facts: int, most: int) -> int:
    """`facts` if that many animal-colour facts can be listed (two at least: the corrupted twin
    asks about another animal; at most `most`, the colours there are), else a MechtestsError."""
    if not isinstance(facts, int) or not 2 <= facts <= most:
        raise MechtestsError(f"infilling needs 2 to {most} facts, got {facts!r}", "set the budget's infilling_facts within that range")
    return facts


class Infilling(BundledTask):
    name = "infilling"
    regime = "globally-constrained"
    words = COLORS + ANIMALS + (";", "owns", ".")

    def __init__(self, facts: int = 4) -> None:
        self.facts = facts_checked(facts, min(len(COLORS), len(ANIMALS)))

    @property
    def difficulty(self) -> str:
        return f"{self.facts} facts"

    def example(self, lex: Lexicon, rng: random.Random) -> Example:
        colors, animals = rng.sample(COLORS, self.facts), rng.sample(ANIMALS, self.facts)
        ask, other = rng.sample(range(self.facts), 2)
        facts = [BOS] + [w for pair in zip(animals, colors) for w in pair] + [";"]

        def mdm(i: int) -> list[str]:
            return facts + [colors[i], "owns", animals[i], "."]

        def arm(i: int) -> list[str]:
            return facts + [animals[i], colors[i]]

        slot = len(facts)
        arm_form = Example(
            tokens=lex.ids(arm(ask)),
            answer_positions=(slot + 1,),
            wrong=lex.ids([colors[other]]),
            corrupted=lex.ids(arm(other)),
        )
        return Example(
            tokens=lex.ids(mdm(ask)),
            answer_positions=(slot,),
            wrong=lex.ids([colors[other]]),
            corrupted=lex.ids(mdm(other)),
            right_context=True,
            arm=arm_form,
        )
