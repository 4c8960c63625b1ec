"""What every task generator shares: a name, a regime, and seeded drawing of Examples.

A generator draws `n` candidates from a seeded stream; a candidate that this tokenizer cannot
express (a name of two tokens, twins of unequal length) is dropped and counted, never patched
up. What is kept is a prefix-stable function of (task, tokenizer, n, seed).
"""

from __future__ import annotations

import random
import weakref
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.tasks.vocab import BOS, Lexicon

Regime = Literal["prefix-dominant", "globally-constrained"]

# Below this share of kept candidates a tokenizer cannot express the task: what is left would be
# a skewed sample (e.g. only the names that happen to be one token), so we refuse it.
MIN_KEPT_FRACTION = 0.1


class Unposable(Exception):
    """A candidate this tokenizer cannot pose; the message is the reason, counted per reason."""


@dataclass
class Draw:
    """The examples a generator kept out of `requested` candidates, and why it dropped the rest."""

    examples: list[Example]
    requested: int
    reasons: Counter = field(default_factory=Counter)
    difficulty: str = ""  # the generator's, e.g. "4 facts"; empty for a task without one

    @property
    def dropped(self) -> int:
        return self.requested - len(self.examples)

    def summary(self) -> str:
        """'987 of 1000 candidates kept (13 dropped: 13 name is not one token)'; a task whose
        difficulty is a number says it: '200 of 200 candidates kept (4 facts)'."""
        notes = [self.difficulty] if self.difficulty else []
        if self.dropped:
            why = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common(3))
            notes.append(f"{self.dropped} dropped: {why}")
        text = f"{len(self.examples)} of {self.requested} candidates kept"
        return f"{text} ({'; '.join(notes)})" if notes else text


def describe(tokenizer: Any) -> str:
    """How a tokenizer is named in messages: its path or hub name, else its class."""
    return getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__


class Task(ABC):
    """A generator of clean/corrupted Examples; every random choice comes from `seed`."""

    name: str
    regime: Regime

    @property
    def difficulty(self) -> str:
        """What sets how hard the task is, for reports ("4 facts"); empty when nothing does."""
        return ""

    def generate(self, tokenizer: Any, n: int, seed: int = 0) -> list[Example]:
        """The examples kept out of `n` candidates, identical for the same (task, n, seed) everywhere."""
        return self.draw(tokenizer, n, seed).examples

    def draw(self, tokenizer: Any, n: int, seed: int = 0) -> Draw:
        """`n` candidates drawn with a seeded stream; the unposable ones dropped and counted."""
        if not isinstance(n, int) or n < 1:
            raise MechtestsError(f"task {self.name!r} was asked for n={n!r} examples", "pass a positive integer")
        context = self.prepared(tokenizer)
        rng = random.Random(f"{self.name}:{seed}")  # str seeds hash stably across runs and platforms
        draw = Draw(examples=[], requested=n, difficulty=self.difficulty)
        for _ in range(n):
            try:
                draw.examples.append(self.example(context, rng))
            except Unposable as why:
                draw.reasons[str(why)] += 1
        if len(draw.examples) < max(1, MIN_KEPT_FRACTION * n):
            raise MechtestsError(
                f"task {self.name!r} could pose only {draw.summary()} in tokenizer {describe(tokenizer)!r}",
                "use the tokenizer of a pretrained model whose common words are single tokens "
                "(`mechtests tasks --arm PATH --show 5` shows what is posed), or mechtests.tasks.build_tokenizer()",
            )
        return draw

    def prepared(self, tokenizer: Any) -> Any:
        """`prepare(tokenizer)`, kept while the tokenizer lives: reading a 150k vocabulary takes seconds."""
        cache = self.__dict__.setdefault("_contexts", weakref.WeakKeyDictionary())
        try:
            if tokenizer not in cache:
                cache[tokenizer] = self.prepare(tokenizer)
            return cache[tokenizer]
        except TypeError:  # not weak-referenceable: prepare afresh
            return self.prepare(tokenizer)

    @abstractmethod
    def prepare(self, tokenizer: Any) -> Any:
        """What `example` needs of the tokenizer (a lexicon, a writer), computed once per tokenizer."""

    @abstractmethod
    def example(self, context: Any, rng: random.Random) -> Example:
        """One example drawn with `rng`; raises Unposable when the tokenizer cannot express it."""

    def __repr__(self) -> str:
        return f"<task {self.name} ({self.regime})>"


class BundledTask(Task):
    """A task over the bundled word-level vocabulary: every word one token, nothing ever dropped."""

    words: tuple[str, ...]  # every word the task may emit; checked against the tokenizer

    def prepare(self, tokenizer: Any) -> Lexicon:
        return Lexicon(tokenizer, (BOS,) + self.words, self.name)
