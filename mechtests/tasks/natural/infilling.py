"""Semantic infilling in natural language: a colour fixed only by the context on both sides.

MDM form (mask in place): "The cat is red, the dog is blue, the fox is green and the owl is gray.
So the [blue] one is the dog." -- the left context lists animal-colour facts, the right context
names the animal, and neither side alone fixes the slot. ARM form (`Example.arm`, as the bundled
task defines it): the right context moves before the slot, "... So the dog is [blue]", since an
ARM never reads past its answer. The corrupted twin asks about another animal, so the answer
changes. Colours and animals must be single tokens with their leading space. How many facts are
listed is the task's difficulty (the run budget's `infilling_facts`).
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task
from mechtests.tasks.infilling import facts_checked
from mechtests.tasks.natural.writer import Writer, Written, same_shape

ANIMALS: tuple[str, ...] = (
    "cat", "dog", "fox", "owl", "cow", "pig", "duck", "horse", "sheep", "goat", "bird", "fish", "frog",
    "mouse", "bear", "lion", "wolf", "rabbit",
)
COLORS: tuple[str, ...] = ("red", "blue", "green", "black", "white", "pink", "gray", "brown", "yellow", "orange", "purple")


class NaturalInfilling(Task):
    name = "infilling"
    regime = "globally-constrained"

    def __init__(self, facts: int = 4) -> None:
        self.facts = facts_checked(facts, min(len(COLORS), len(ANIMALS)))

    @property
    def difficulty(self) -> str:
        return f"{self.facts} facts"

    def prepare(self, tokenizer: Any) -> Writer:
        return Writer(tokenizer)

    def example(self, writer: Writer, rng: random.Random) -> Example:
        colors, animals = rng.sample(COLORS, self.facts), rng.sample(ANIMALS, self.facts)
        ask, other = rng.sample(range(self.facts), 2)
        for word in colors + animals:
            writer.one_token(word)
        said = [f"{a} is {c}" for a, c in zip(animals, colors)]
        facts = "The " + ", the ".join(said[:-1]) + " and the " + said[-1] + "."

        def mdm(i: int) -> Written:
            return writer.write([facts + " So the", f" {colors[i]}", f" one is the {animals[i]}."], answers=[1])

        def arm(i: int) -> Written:
            return writer.write([facts + f" So the {animals[i]} is", f" {colors[i]}"], answers=[1])

        wrong = (writer.one_token(colors[other]),)
        forms = []
        for write in (mdm, arm):
            clean, corrupt = write(ask), write(other)
            same_shape(clean, corrupt)
            forms.append((clean, corrupt))
        (clean, corrupt), (arm_clean, arm_corrupt) = forms
        return Example(
            tokens=clean.tokens, answer_positions=clean.answer_positions, wrong=wrong, corrupted=corrupt.tokens,
            right_context=True,
            arm=Example(tokens=arm_clean.tokens, answer_positions=arm_clean.answer_positions, wrong=wrong,
                        corrupted=arm_corrupt.tokens),
        )
