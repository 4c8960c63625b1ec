"""Induction/copy: a span of distinct symbols recurs, and the answer is the symbol that followed it.

The repeated span has a random length (1-6) and starts at a random place, so the distance back
to the token to copy varies: only a head that matches the current token against earlier ones
(an induction head) can solve it, not one that looks a fixed number of positions back.
"""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

import torch

from mechtests.queries.example import Example
from mechtests.tasks.base import BundledTask
from mechtests.tasks.vocab import BOS, SYMBOLS, Lexicon

LENGTH = 24  # tokens per example, <bos> included; the answer is the last token
MIN_SPAN, MAX_SPAN = 1, 6
T = TypeVar("T")


def repeated_span(pool: Sequence[T], rng: random.Random) -> tuple[list[T], list[T]]:
    """(clean, corrupted) item sequences of LENGTH - 1 (no <bos>): distinct items from `pool`, then
    a repeated span and the item that followed it; the corrupted twin repeats another span, so the
    copied item (the answer, last) changes. Shared by the bundled and the natural-language task."""
    span = rng.randint(MIN_SPAN, MAX_SPAN)
    n_first = LENGTH - 2 - span  # <bos>, first segment, repeated span, answer
    seq = rng.sample(pool, n_first)  # distinct: the token after a repeat is unambiguous
    start, other = rng.sample(range(n_first - span), 2)  # span starts with a successor in seq
    return seq + seq[start:start + span] + [seq[start + span]], seq + seq[other:other + span] + [seq[other + span]]


class Induction(BundledTask):
    name = "induction"
    regime = "prefix-dominant"
    words = SYMBOLS

    def example(self, lex: Lexicon, rng: random.Random) -> Example:
        clean, corrupt = repeated_span(SYMBOLS, rng)
        return Example(
            tokens=lex.ids([BOS] + clean),
            answer_positions=(LENGTH - 1,),
            wrong=lex.ids(corrupt[-1:]),
            corrupted=lex.ids([BOS] + corrupt),
        )


def first_occurrence_scores(attentions: Sequence[torch.Tensor], examples: Sequence[Example]) -> torch.Tensor:
    """(L, H) tensor: each head's mean attention from the last repeated token to the token after
    its first occurrence (the bundled pair's induction-head criterion), from per-layer attention
    probabilities (B, H, T, T) on `examples`, e.g. transformers' `output_attentions`."""
    query, key = zip(*(first_occurrence_targets(e) for e in examples))
    rows = torch.arange(len(examples))
    return torch.stack([a[rows, :, list(query), list(key)].mean(0) for a in attentions])


def first_occurrence_targets(example: Example) -> tuple[int, int]:
    """(query, key) positions an induction head links: the last repeated token, and the token
    after that token's first occurrence."""
    query = example.answer_positions[0] - 1
    key = example.tokens.index(example.tokens[query]) + 1
    return query, key
