"""Countdown-like: three small numbers and a target; the answer names the two that sum to it.

"use 3 8 5 make 13 : 8 5". The operands are answered in the order they were given, so the
first answer token already depends on the target and on every number (the whole plan). With
three distinct numbers the three pair sums differ, so the solution is always unique. The
corrupted twin asks for another pair's sum, so the answer changes.
"""

from __future__ import annotations

import random

from mechtests.queries.example import Example
from mechtests.tasks.base import BundledTask
from mechtests.tasks.vocab import BOS, Lexicon

OPERANDS = range(1, 10)  # 1..9; targets are 3..17


class Countdown(BundledTask):
    name = "countdown"
    regime = "globally-constrained"
    words = tuple(str(i) for i in range(1, 18)) + ("use", "make", ":")

    def example(self, lex: Lexicon, rng: random.Random) -> Example:
        nums = rng.sample(OPERANDS, 3)
        pair, other = rng.sample([(0, 1), (0, 2), (1, 2)], 2)

        def sentence(p: tuple[int, int]) -> list[str]:
            target = nums[p[0]] + nums[p[1]]
            return [BOS, "use", *map(str, nums), "make", str(target), ":", str(nums[p[0]]), str(nums[p[1]])]

        clean, corrupt = sentence(pair), sentence(other)
        n = len(clean)
        excluded = str(nums[({0, 1, 2} - set(pair)).pop()])
        # Contrast: the corrupted answer where it differs, else the number left out of the sum.
        wrong = [c if c != a else excluded for a, c in zip(clean[-2:], corrupt[-2:])]
        return Example(
            tokens=lex.ids(clean),
            answer_positions=(n - 2, n - 1),
            wrong=lex.ids(wrong),
            corrupted=lex.ids(corrupt),
        )
