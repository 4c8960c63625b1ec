"""The paper's diagnostic tasks, for the bundled word-level vocabulary and for any real tokenizer.

    from mechtests.tasks import TaskSet, build_tokenizer
    tasks = TaskSet(build_tokenizer(), n=1000, seed=0)   # or a real model's tokenizer
    tasks.induction[0]          # an Example
    tasks.draw("ioi").summary() # '987 of 1000 candidates kept (13 dropped: ...)'
    for name in tasks: ...      # induction, ioi, greater_than, countdown, infilling

prefix-dominant: induction, ioi, greater_than; globally-constrained: countdown, infilling.
The bundled vocabulary cannot express natural-language prompts, so the generators are chosen
by tokenizer: the bundled ones (TASKS) for a tokenizer holding every bundled word as one token,
the natural-language ones (NATURAL_TASKS) for every other tokenizer. Both share names and regimes.
"""

from __future__ import annotations

from typing import Any, Iterator

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.tasks.backward_copy import BackwardCopy
from mechtests.tasks.base import Draw, Regime, Task
from mechtests.tasks.countdown import Countdown
from mechtests.tasks.greater_than import GreaterThan
from mechtests.tasks.induction import Induction, first_occurrence_scores, first_occurrence_targets
from mechtests.tasks.infilling import Infilling
from mechtests.tasks.ioi import IOI
from mechtests.tasks.natural import NATURAL_TASKS
from mechtests.tasks.vocab import BOS, SYMBOLS, WORDS, Lexicon, build_tokenizer

TASKS: dict[str, Task] = {t.name: t for t in (Induction(), IOI(), GreaterThan(), Countdown(), Infilling())}


def generators_for(tokenizer: Any) -> dict[str, Task]:
    """The bundled generators for a tokenizer of the bundled vocabulary, else the natural-language ones."""
    vocab = tokenizer.get_vocab()
    return TASKS if all(w in vocab for w in WORDS) else NATURAL_TASKS


def induction_vocabulary(tokenizer: Any) -> tuple[tuple[int, ...], list[int]]:
    """(start ids, token ids) that the induction task draws its sequences from in this tokenizer:
    <bos> and the bundled symbols, or the declared BOS (if any) and the ordinary word tokens.
    For measurements that build their own repeated spans in the task's format."""
    if generators_for(tokenizer) is TASKS:
        lex = Lexicon(tokenizer, (BOS,) + SYMBOLS, "induction")
        return lex.ids([BOS]), list(lex.ids(list(SYMBOLS)))
    vocabulary = NATURAL_TASKS["induction"].prepared(tokenizer)
    return vocabulary.bos, list(vocabulary.ordinary)


# Tasks that only a model reading the right context can answer (kept out of TASKS, whose pools need both models).
MDM_ONLY_TASKS: dict[str, Task] = {"backward_copy": BackwardCopy(induction_vocabulary)}


class TaskSet:
    """Every task's examples for one tokenizer, drawn on first use and then kept.

    n: candidates drawn per task; the bundled tasks keep all of them, the natural-language ones
    drop (and count, see `draw`) those the tokenizer cannot express.
    """

    def __init__(self, tokenizer: Any, n: int = 1000, seed: int = 0) -> None:
        self.tokenizer, self.n, self.seed = tokenizer, n, seed
        self.generators = generators_for(tokenizer)
        self._cache: dict[str, Draw] = {}

    def draw(self, name: str) -> Draw:
        """The task's kept examples with the number of candidates requested and dropped (and why)."""
        if name not in self.generators:
            raise MechtestsError(f"unknown task {name!r}", f"use one of {', '.join(self.generators)}")
        if name not in self._cache:
            self._cache[name] = self.generators[name].draw(self.tokenizer, self.n, self.seed)
        return self._cache[name]

    def __getitem__(self, name: str) -> list[Example]:
        return self.draw(name).examples

    def __iter__(self) -> Iterator[str]:
        return iter(self.generators)

    def __len__(self) -> int:
        return len(self.generators)

    induction = property(lambda self: self["induction"])
    ioi = property(lambda self: self["ioi"])
    greater_than = property(lambda self: self["greater_than"])
    countdown = property(lambda self: self["countdown"])
    infilling = property(lambda self: self["infilling"])


__all__ = [
    "MDM_ONLY_TASKS", "NATURAL_TASKS", "TASKS", "Draw", "TaskSet", "Task", "Regime", "build_tokenizer", "first_occurrence_scores",
    "first_occurrence_targets", "generators_for", "induction_vocabulary",
]
