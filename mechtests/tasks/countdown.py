"""Countdown-like: small numbers and a target; the answer names the two that sum to it.

"use 3 8 5 make 13 : 8 5". The operands are answered in the order they were given, so the
first answer token already depends on the target and on every number (the whole plan). The
target is a pair sum that no other pair of the numbers reaches, so the solution is unique
(with three distinct numbers every pair sum is). The corrupted twin asks for another such
pair's sum, so the answer changes. How many numbers are given is the task's difficulty (the run
budget's `countdown_operands`; the bundled pair's 3).
"""

from __future__ import annotations

import random
from itertools import combinations

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.tasks.base import BundledTask
from mechtests.tasks.vocab import BOS, Lexicon

OPERANDS = range(1, 10)  # 1..9; targets are 3..17
MAX_OPERANDS = 6  # more numbers of 1..9 rarely leave two pairs whose sums no other pair reaches


def operands_checked(operands: int) -> int:
    """`operands` if a Countdown can be posed with that many numbers, else a MechtestsError."""
    if not isinstance(operands, int) or not 3 <= operands <= MAX_OPERANDS:
        raise MechtestsError(f"countdown needs 3 to {MAX_OPERANDS} operands, got {operands!r}",
                             "set the budget's countdown_operands within that range")
    return operands


def unique_pairs(nums: list[int]) -> list[tuple[int, int]]:
    """Index pairs, in order, whose sum no other pair of `nums` reaches: the solvable targets."""
    pairs = list(combinations(range(len(nums)), 2))
    sums = [nums[a] + nums[b] for a, b in pairs]
    return [p for p, s in zip(pairs, sums) if sums.count(s) == 1]


def draw_operands(rng: random.Random, operands: int) -> tuple[list[int], list[tuple[int, int]]]:
    """(numbers, their solvable pairs), redrawn until at least two pairs are solvable (at once for
    3 numbers), so that a twin can ask for another sum. Shared with the natural-language task."""
    while True:
        nums = rng.sample(OPERANDS, operands)
        solvable = unique_pairs(nums)
        if len(solvable) >= 2:
            return nums, solvable


def left_out(nums: list[int], pair: tuple[int, int]) -> int:
    """The first number that is not one of the pair: the contrast where the twins share an operand."""
    return nums[min(set(range(len(nums))) - set(pair))]


class Countdown(BundledTask):
    name = "countdown"
    regime = "globally-constrained"
    words = tuple(str(i) for i in range(1, 18)) + ("use", "make", ":")

    def __init__(self, operands: int = 3) -> None:
        self.operands = operands_checked(operands)

    @property
    def difficulty(self) -> str:
        return f"{self.operands} operands"

    def example(self, lex: Lexicon, rng: random.Random) -> Example:
        nums, solvable = draw_operands(rng, self.operands)
        pair, other = rng.sample(solvable, 2)

        def sentence(p: tuple[int, int]) -> list[str]:
            target = nums[p[0]] + nums[p[1]]
            return [BOS, "use", *map(str, nums), "make", str(target), ":", str(nums[p[0]]), str(nums[p[1]])]

        clean, corrupt = sentence(pair), sentence(other)
        n = len(clean)
        excluded = str(left_out(nums, pair))
        # Contrast: the corrupted answer where it differs, else the number left out of the sum.
        wrong = [c if c != a else excluded for a, c in zip(clean[-2:], corrupt[-2:])]
        return Example(
            tokens=lex.ids(clean),
            answer_positions=(n - 2, n - 1),
            wrong=lex.ids(wrong),
            corrupted=lex.ids(corrupt),
        )
