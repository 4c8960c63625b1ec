"""Countdown in natural language: three numbers and a target; the answer names the two that reach it.

"Use two of the numbers 3, 8 and 5 to make 13. The two numbers are 8 and 5". The operands are
answered in the order they were given, so the first answer token already depends on the target
and on every number (the whole plan, as in the bundled task). Three distinct numbers have three
distinct pair sums, so the solution is unique. The corrupted twin asks for another pair's sum
(a target of the same token length; with none, the candidate is dropped), so the answer changes.
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task, Unposable
from mechtests.tasks.natural.writer import Writer, Written, same_shape

OPERANDS = range(1, 10)  # one content token in every tokenizer; targets are 3..17
PAIRS = ((0, 1), (0, 2), (1, 2))


class NaturalCountdown(Task):
    name = "countdown"
    regime = "globally-constrained"

    def prepare(self, tokenizer: Any) -> Writer:
        return Writer(tokenizer)

    def example(self, writer: Writer, rng: random.Random) -> Example:
        nums = rng.sample(OPERANDS, 3)
        pair, *others = rng.sample(PAIRS, 3)
        number = {n: writer.one_token(str(n)) for n in nums}

        def write(p: tuple[int, int]) -> Written:
            x, y = nums[p[0]], nums[p[1]]
            prompt = f"Use two of the numbers {nums[0]}, {nums[1]} and {nums[2]} to make {x + y}. The two numbers are"
            return writer.write([prompt, f" {x}", " and", f" {y}"], answers=[1, 3])

        clean = write(pair)
        if clean.answer != (number[nums[pair[0]]], number[nums[pair[1]]]):
            raise Unposable("an operand is not one token in context")
        for other in others:
            corrupt = write(other)
            try:
                same_shape(clean, corrupt)
            except Unposable:
                continue
            excluded = number[nums[({0, 1, 2} - set(pair)).pop()]]
            # Contrast: the corrupted answer where it differs, else the number left out of the sum.
            wrong = tuple(c if c != a else excluded for a, c in zip(clean.answer, corrupt.answer))
            return Example(tokens=clean.tokens, answer_positions=clean.answer_positions, wrong=wrong,
                           corrupted=corrupt.tokens)
        raise Unposable("no other target has the same token length")
