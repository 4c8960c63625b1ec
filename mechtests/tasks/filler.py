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


PERIODS = (3, 20)  # shortest and longest period of `repeats`


def repeats(
    tokenizer, n: int, length: int, seed: int = 0, words: str = "all", periods: tuple[int, int] = PERIODS
) -> list[tuple[int, ...]]:
    """`n` sequences of random words that repeat with a random period, `length` tokens each.

    Training data only: every token after the first period is predictable by copying, so an
    ARM forms induction heads within a few hundred steps. The periods span the distances the
    induction task copies over (2-20 tokens). Measured on symbol strings with the 4-layer pair
    recipe: on periods 3-20 an induction head (0.8 attention on the copied token) formed within
    300 steps; on periods 4-11 the ARM learned to copy those strings but reached only 0.25 on
    the induction task, with no head attending to the copied token. words="symbols" draws only the
    induction task's symbols (the curriculum); "all" draws from the whole task vocabulary
    (symbols, names, colours, animals, numbers), so the copying serves every task that needs it.
    """
    pool = SYMBOLS if words == "symbols" else SYMBOLS + NAMES + COLORS + ANIMALS + NUMBERS[1:30] + NOUNS
    lex = Lexicon(tokenizer, (BOS,) + pool, "repeats")
    rng = random.Random(f"repeats:{words}:{seed}")
    out = []
    for _ in range(n):
        period = rng.sample(pool, rng.randint(*periods))
        out.append(lex.ids([BOS] + [period[i % len(period)] for i in range(length - 1)]))
    return out
