"""Backward copy: the induction task reversed in time, so that the answer lies to the LEFT of a repeat.

    <bos> [answer] s1 .. sk x1 x2 ... xn        where s1 .. sk = x(j) .. x(j+k-1) and answer = x(j-1)

(A tokenizer that prepends no BOS (GPT-2, Qwen2.5, SmolLM2) gets one more distinct item from
the pool in its place: a shifted MDM predicts position i from position i - 1, so the slot
needs a token before it.)

A span of distinct tokens recurs later in the sequence, and the answer is the token that
precedes its later occurrence: an MDM that sees the right context can fill the masked slot
by attending from the span to the token before its other occurrence (backward induction,
mechtests.measure.backward). An ARM reads only <bos> before the slot: no causal model can answer
it, and the suites report it so (not applicable) instead of scoring a failure. The span's length
(1-6) and where it recurs are random, as in the induction task, so no fixed offset solves it.
The corrupted twin repeats another span, which changes the answer.

The tokens come from the induction task's vocabulary in the tokenizer at hand (the bundled
symbols, or a real tokenizer's ordinary word tokens), handed in by the task registry.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from mechtests.queries.example import Example
from mechtests.tasks.base import Task, Unposable
from mechtests.tasks.induction import LENGTH, MAX_SPAN, MIN_SPAN

Vocabulary = tuple[tuple[int, ...], list[int]]  # (start ids, token ids), as mechtests.tasks.induction_vocabulary gives


def span_after_answer(pool: Sequence[int], rng: random.Random) -> tuple[list[int], list[int]]:
    """(clean, corrupted) sequences of LENGTH - 1 items (no start token): the answer, a span, then
    distinct items among which the span recurs right after the answer; the corrupted twin's span
    recurs elsewhere, after another item."""
    span = rng.randint(MIN_SPAN, MAX_SPAN)
    n_rest = LENGTH - 2 - span  # start, answer, span, the rest
    rest = rng.sample(list(pool), n_rest)  # distinct: the token before a repeat is unambiguous
    start, other = rng.sample(range(1, n_rest - span + 1), 2)  # each span has a predecessor in `rest`
    clean = [rest[start - 1]] + rest[start:start + span] + rest
    return clean, [rest[other - 1]] + rest[other:other + span] + rest


class BackwardCopy(Task):
    """The answer (position 1) is copied from before the later occurrence of the span that follows it."""

    name = "backward_copy"
    regime = "globally-constrained"  # the context to the right of the answer determines it

    def __init__(self, vocabulary: Callable[[Any], Vocabulary]) -> None:
        self.vocabulary = vocabulary

    def prepare(self, tokenizer: Any) -> Vocabulary:
        return self.vocabulary(tokenizer)

    def example(self, context: Vocabulary, rng: random.Random) -> Example:
        start, pool = context
        if len(pool) < LENGTH + 1:
            raise Unposable(f"fewer than {LENGTH + 1} tokens to draw a sequence from")
        clean, corrupt = span_after_answer(pool, rng)
        if not start:
            start = (rng.choice(sorted(set(pool) - set(clean) - set(corrupt))),)
        return Example(
            tokens=tuple(start) + tuple(clean), answer_positions=(len(start),), wrong=(corrupt[0],),
            corrupted=tuple(start) + tuple(corrupt), right_context=True,
        )
