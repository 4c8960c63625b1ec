"""Greater-Than in natural language, in the style of Hanna et al. 2023.

"The war lasted from the year 1732 to the year 17" -> a year above 32. The corrupted twin starts
at year 01 (Hanna et al.'s baseline), so the start year no longer constrains the answer.

How the metric reads a year depends on how the tokenizer writes one after its century:
- one token for the final two digits (GPT-2: " 17" "32"): the answer is one token; the metric
  is the probability of the two-digit tokens above YY minus those at or below it, as in
  Hanna et al.; correct when the top token is a two-digit token above YY.
- one token per digit (LLaMA-2, Qwen2.5, SmolLM2: "1" "7" "3" "2"): the answer is two tokens,
  the tens digit Y1 of the start year (teacher-forced) and a units digit above Y2. The mass
  above YY is P(tens > Y1) + P(tens = Y1) x P(units > Y2 | tens = Y1); the mass at or below it
  P(tens < Y1) + P(tens = Y1) x P(units <= Y2 | tens = Y1); the metric is their difference.
  An ARM reads both digits in one teacher-forced pass (the units conditioned on tens = Y1). An
  MDM reads both in one fill step with both digits masked: the units distribution is then not
  conditioned on the tens, and the formula is exactly the probability that one parallel fill
  step writes a year above YY. Correct: the greedy digits (tens, then units read after Y1 for
  the ARM, both at once for the MDM) spell a year above YY. A start year ending in 9 has no
  answer sharing its tens digit, so such candidates are dropped.
Candidates whose year does not tokenize in the tokenizer's way, or whose twin (YY = 01) has
another length, are dropped too.
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task, Unposable
from mechtests.tasks.natural.writer import Writer, Written, same_shape

CENTURIES = tuple(range(11, 18))  # CC: the 1100s to the 1700s
FIRST, LAST = 2, 98  # YY: at least one year above and one at or below
CORRUPT_YY = 1
NOUNS: tuple[str, ...] = (
    "war", "expedition", "reign", "drought", "voyage", "trial", "treaty", "siege", "journey", "plague",
    "dynasty", "rebellion", "famine", "campaign", "occupation", "partnership", "marriage", "project",
    "negotiation", "pilgrimage", "alliance", "conflict", "embargo", "exile", "investigation", "strike",
    "friendship", "apprenticeship", "construction", "tour",
)


class Years:
    """How one tokenizer writes the last two digits of a year after its century."""

    def __init__(self, tokenizer: Any) -> None:
        self.writer = Writer(tokenizer)
        pieces = [tokenizer.decode([t]).strip() for t in self.writer.content(" 1732")]
        self.mode = {("1", "7", "3", "2"): "digits", ("17", "32"): "pairs"}.get(tuple(pieces))
        self.digits = {d: ids[0] for d in range(10) if len(ids := self.writer.content(f" {d}")) == 1}
        self._endings: dict[int, dict[int, int]] = {}

    def endings(self, century: int) -> dict[int, int]:
        """yy -> the token of the digit pair yy written after `century` (pairs mode)."""
        if century not in self._endings:
            table = {}
            for yy in range(100):
                ids = self.writer.content(f" {century}{yy:02d}")
                if len(ids) == 2 and self.writer.tokenizer.decode([ids[1]]) == f"{yy:02d}":
                    table[yy] = ids[1]
            self._endings[century] = table
        return self._endings[century]


class NaturalGreaterThan(Task):
    name = "greater_than"
    regime = "prefix-dominant"

    def prepare(self, tokenizer: Any) -> Years:
        return Years(tokenizer)

    def example(self, years: Years, rng: random.Random) -> Example:
        noun, century, start = rng.choice(NOUNS), rng.choice(CENTURIES), rng.randint(FIRST, LAST)
        if years.mode is None:
            raise Unposable("years are written neither per digit nor per digit pair")
        if years.mode == "digits":
            tens, units = divmod(start, 10)
            if units == 9:
                raise Unposable("no year above the start shares its tens digit")
            answer_text = f"{tens}{rng.randint(units + 1, 9)}"
        else:
            answer_text = f"{rng.randint(start + 1, 99):02d}"

        def write(yy: int) -> Written:
            prompt = f"The {noun} lasted from the year {century}{yy:02d} to the year {century}"
            return years.writer.write([prompt, answer_text], answers=[1])

        clean, corrupt = write(start), write(CORRUPT_YY)
        same_shape(clean, corrupt)
        if years.mode == "digits":
            return self._per_digit(years, clean, corrupt, start, answer_text)
        return self._per_pair(years, clean, corrupt, start, century, int(answer_text))

    @staticmethod
    def _per_digit(years: Years, clean: Written, corrupt: Written, start: int, answer_text: str) -> Example:
        digit = years.digits
        if len(digit) != 10 or clean.answer != tuple(digit[int(c)] for c in answer_text):
            raise Unposable("the answer year is not one token per digit")
        tens, units = divmod(start, 10)
        return Example(
            tokens=clean.tokens, answer_positions=clean.answer_positions,
            wrong=(digit[tens], digit[units]), corrupted=corrupt.tokens,
            good=tuple(digit[d] for d in range(tens + 1, 10)), bad=tuple(digit[d] for d in range(tens)),
            after_tie=(tuple(digit[d] for d in range(units + 1, 10)), tuple(digit[d] for d in range(units + 1))),
        )

    @staticmethod
    def _per_pair(years: Years, clean: Written, corrupt: Written, start: int, century: int, answer: int) -> Example:
        ending = years.endings(century)
        if start not in ending or clean.answer != (ending.get(answer),):
            raise Unposable("the year's last two digits are not one token")
        return Example(
            tokens=clean.tokens, answer_positions=clean.answer_positions,
            wrong=(ending[start],), corrupted=corrupt.tokens,
            good=tuple(t for yy, t in ending.items() if yy > start),
            bad=tuple(t for yy, t in ending.items() if yy <= start),
        )
