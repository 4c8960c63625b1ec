"""Countdown in natural language: numbers and a target; the answer names the two that reach it.

"Use two of the numbers 3, 8 and 5 to make 13. The two numbers are 8 and 5". The operands are
answered in the order they were given, so the first answer token already depends on the target
and on every number (the whole plan, as in the bundled task). The target is a pair sum no other
pair reaches, so the solution is unique (mechtests.tasks.countdown.draw_operands). The corrupted
twin asks for another such pair's sum (a target of the same token length; with none, the
candidate is dropped), so the answer changes. How many numbers are given is the task's
difficulty (the run budget's `countdown_operands`).
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task, Unposable
from mechtests.tasks.countdown import OPERANDS, draw_operands, left_out, operands_checked
from mechtests.tasks.natural.writer import Writer, Written, same_shape

__all__ = ["OPERANDS", "NaturalCountdown"]  # OPERANDS: one content token in every tokenizer; targets are 3..17


class NaturalCountdown(Task):
    name = "countdown"
    regime = "globally-constrained"

    def __init__(self, operands: int = 3) -> None:
        self.operands = operands_checked(operands)

    @property
    def difficulty(self) -> str:
        return f"{self.operands} operands"

    def prepare(self, tokenizer: Any) -> Writer:
        return Writer(tokenizer)

    def example(self, writer: Writer, rng: random.Random) -> Example:
        nums, solvable = draw_operands(rng, self.operands)
        pair, *others = rng.sample(solvable, len(solvable))
        number = {n: writer.one_token(str(n)) for n in nums}
        listed = ", ".join(map(str, nums[:-1])) + f" and {nums[-1]}"

        def write(p: tuple[int, int]) -> Written:
            x, y = nums[p[0]], nums[p[1]]
            prompt = f"Use two of the numbers {listed} to make {x + y}. The two numbers are"
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
            excluded = number[left_out(nums, pair)]
            # Contrast: the corrupted answer where it differs, else the number left out of the sum.
            wrong = tuple(c if c != a else excluded for a, c in zip(clean.answer, corrupt.answer))
            return Example(tokens=clean.tokens, answer_positions=clean.answer_positions, wrong=wrong,
                           corrupted=corrupt.tokens)
        raise Unposable("no other target has the same token length")
