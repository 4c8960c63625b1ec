"""Filler text for training: short sentences from a tiny grammar, so the models also learn
ordinary language modelling and not only the five tasks. Not a task: it has no answers."""

from __future__ import annotations

import random

from mechtests.tasks.vocab import ADJECTIVES, ANIMALS, BOS, COLORS, NAMES, NOUNS, NUMBERS, SYMBOLS, VERBS, Lexicon

WORDS = ADJECTIVES + NOUNS + VERBS + NAMES + ("the", "a", "and", "then", ".")


def filler(tokenizer, n: int, length: int, seed: int = 0) -> list[tuple[int, ...]]:
    """`n` sequences of exactly `length` tokens (<bos> first), deterministic for `seed`."""
    lex = Lexicon(tokenizer, (BOS,) + WORDS, "filler")
    rng = random.Random(f"filler:{seed}")
    out = []
    for _ in range(n):
        words = [BOS]
        while len(words) < length:
            subject = [rng.choice(NAMES)] if rng.random() < 0.3 else ["the", rng.choice(ADJECTIVES), rng.choice(NOUNS)]
            obj = ["a", rng.choice(NOUNS)] if rng.random() < 0.5 else ["the", rng.choice(ADJECTIVES), rng.choice(NOUNS)]
            words += subject + [rng.choice(VERBS)] + obj + [rng.choice([".", "and", "then"])]
        out.append(lex.ids(words[:length]))
    return out


def repeats(tokenizer, n: int, length: int, seed: int = 0) -> list[tuple[int, ...]]:
    """`n` sequences of distinct random words followed by copies of random spans of them, `length`
    tokens each.

    Training data only: every copied token after a span's first is predictable only by an
    induction head (find the current word earlier, copy what followed it), at a distance that
    varies with the first segment's length and the span's start. The words come from the whole
    task vocabulary, so the copying serves every task that needs it (induction, IOI, infilling).
    """
    pool = SYMBOLS + NAMES + COLORS + ANIMALS + NUMBERS[1:30] + NOUNS
    lex = Lexicon(tokenizer, (BOS,) + pool, "repeats")
    rng = random.Random(f"repeats:{seed}")
    out = []
    for _ in range(n):
        first = rng.sample(pool, rng.randint(8, 16))
        words = [BOS] + first
        while len(words) < length:
            span = rng.randint(3, 8)
            start = rng.randrange(len(first) - span + 1)
            words += first[start:start + span]
        out.append(lex.ids(words[:length]))
    return out
