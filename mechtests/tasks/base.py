"""What every task generator shares: a name, a regime, and seeded generation of Examples."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Literal

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.tasks.vocab import BOS, Lexicon

Regime = Literal["prefix-dominant", "globally-constrained"]


class Task(ABC):
    """A generator of clean/corrupted Examples; every random choice comes from `seed`.

    All examples of one task have the same length and number of answer positions, so a batch
    of them needs no padding.
    """

    name: str
    regime: Regime
    words: tuple[str, ...]  # every word the task may emit; checked against the tokenizer

    def generate(self, tokenizer, n: int, seed: int = 0) -> list[Example]:
        """`n` examples, identical for the same (task, n, seed) on every machine."""
        if not isinstance(n, int) or n < 1:
            raise MechtestsError(f"task {self.name!r} was asked for n={n!r} examples", "pass a positive integer")
        lex = Lexicon(tokenizer, (BOS,) + self.words, self.name)
        rng = random.Random(f"{self.name}:{seed}")  # str seeds hash stably across runs and platforms
        return [self.example(lex, rng) for _ in range(n)]

    @abstractmethod
    def example(self, lex: Lexicon, rng: random.Random) -> Example:
        """One example drawn with `rng`."""

    def __repr__(self) -> str:
        return f"<task {self.name} ({self.regime})>"
