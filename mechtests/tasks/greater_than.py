"""Greater-than: "from year 37 to year" -> any year above 37.

The metric is the probability mass on years above the start year (`good`) minus the mass on
years at or below it (`bad`); the answer token is one valid year, the wrong token the start
year itself. The corrupted twin starts at or after the answer year, so the answer loses its
support.
"""

from __future__ import annotations

import random

from mechtests.queries.example import Example
from mechtests.tasks.base import BundledTask
from mechtests.tasks.vocab import BOS, Lexicon

LOW, HIGH = 10, 99  # years are two-digit numbers
YEARS: tuple[str, ...] = tuple(str(y) for y in range(LOW, HIGH + 1))


class GreaterThan(BundledTask):
    name = "greater_than"
    regime = "prefix-dominant"
    words = YEARS + ("from", "year", "to")

    def example(self, lex: Lexicon, rng: random.Random) -> Example:
        start = rng.randint(LOW + 1, HIGH - 1)  # 11..98: at least one year above and below
        end = rng.randint(start + 1, HIGH)
        corrupt_start = rng.randint(end, HIGH)  # the answer year is no longer above the start

        def sentence(y: int) -> list[str]:
            return [BOS, "from", "year", str(y), "to", "year", str(end)]

        clean = sentence(start)
        return Example(
            tokens=lex.ids(clean),
            answer_positions=(len(clean) - 1,),
            wrong=lex.ids([str(start)]),
            corrupted=lex.ids(sentence(corrupt_start)),
            good=lex.ids([str(y) for y in range(start + 1, HIGH + 1)]),
            bad=lex.ids([str(y) for y in range(LOW, start + 1)]),
        )
