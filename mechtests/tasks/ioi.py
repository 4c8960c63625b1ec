"""IOI-like: two names are introduced, one of them acts, and the answer is the other one.

"when alice and bob went to the store , bob gave a drink to" -> alice. The corrupted twin
replaces the acting name with a third name, so neither introduced name is singled out.
"""

from __future__ import annotations

import random

from mechtests.queries.example import Example
from mechtests.tasks.base import BundledTask
from mechtests.tasks.vocab import BOS, NAMES, OBJECTS, PLACES, Lexicon

WORDS = ("when", "and", "went", "to", "the", ",", "gave", "a")


class IOI(BundledTask):
    name = "ioi"
    regime = "prefix-dominant"
    words = NAMES + PLACES + OBJECTS + WORDS

    def example(self, lex: Lexicon, rng: random.Random) -> Example:
        io, s, third = rng.sample(NAMES, 3)  # indirect object, subject, unrelated name
        first, second = (io, s) if rng.random() < 0.5 else (s, io)  # ABBA and BABA orders
        place, obj = rng.choice(PLACES), rng.choice(OBJECTS)

        def sentence(actor: str) -> list[str]:
            return [BOS, "when", first, "and", second, "went", "to", "the", place, ",",
                    actor, "gave", "a", obj, "to", io]

        clean = sentence(s)
        return Example(
            tokens=lex.ids(clean),
            answer_positions=(len(clean) - 1,),
            wrong=lex.ids([s]),
            corrupted=lex.ids(sentence(third)),
        )
