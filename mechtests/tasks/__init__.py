"""The paper's diagnostic tasks, for the bundled word-level vocabulary and for any real tokenizer.

    from mechtests.tasks import TaskSet, build_tokenizer
    tasks = TaskSet(build_tokenizer(), n=1000, seed=0)   # or a real model's tokenizer
    tasks.induction[0]          # an Example
    tasks.draw("ioi").summary() # '987 of 1000 candidates kept (13 dropped: ...)'
    for name in tasks: ...      # induction, ioi, greater_than, countdown, infilling

prefix-dominant: induction, ioi, greater_than; globally-constrained: countdown, infilling.
The bundled vocabulary cannot express natural-language prompts, so the generators are chosen
by tokenizer: the bundled ones (TASKS) for a tokenizer holding every bundled word as one token,
the natural-language ones (NATURAL_TASKS) for every other tokenizer. Both share the paper's five
names and regimes, which a TaskSet iterates; a real tokenizer also poses `repeat_text`, by name.
The difficulty of Countdown and Infilling (how many operands, how many facts) is the run budget's
(mechtests.run.budget: `countdown_operands`, `infilling_facts`), and each Draw says it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.run import budget as run_budget
from mechtests.tasks.backward_copy import BackwardCopy
from mechtests.tasks.base import Draw, Regime, Task
from mechtests.tasks.countdown import Countdown
from mechtests.tasks.greater_than import GreaterThan
from mechtests.tasks.induction import Induction, first_occurrence_scores, first_occurrence_targets
from mechtests.tasks.infilling import Infilling
from mechtests.tasks.ioi import IOI
from mechtests.tasks.natural import NATURAL_TASKS, natural_tasks
from mechtests.tasks.vocab import BOS, SYMBOLS, WORDS, Lexicon, build_tokenizer

PAPER_TASKS: tuple[str, ...] = ("induction", "ioi", "greater_than", "countdown", "infilling")  # what a TaskSet iterates
_INDUCTION, _IOI, _GREATER_THAN = Induction(), IOI(), GreaterThan()


@lru_cache(maxsize=None)
def bundled_tasks(infilling_facts: int, countdown_operands: int) -> dict[str, Task]:
    """The bundled generators at one difficulty, the same dict for the same one."""
    return {t.name: t for t in (_INDUCTION, _IOI, _GREATER_THAN, Countdown(countdown_operands), Infilling(infilling_facts))}


TASKS: dict[str, Task] = bundled_tasks(run_budget.DEFAULT.infilling_facts, run_budget.DEFAULT.countdown_operands)


def is_bundled(tokenizer: Any) -> bool:
    """Whether the tokenizer holds every bundled word as one token (the bundled pair's)."""
    vocab = tokenizer.get_vocab()
    return all(w in vocab for w in WORDS)


def generators_for(tokenizer: Any, budget: run_budget.Budget | None = None) -> dict[str, Task]:
    """The bundled generators for a tokenizer of the bundled vocabulary, else the natural-language
    ones, at the difficulty of `budget` (default: the active run budget)."""
    run = budget or run_budget.active()
    make = bundled_tasks if is_bundled(tokenizer) else natural_tasks
    return make(run.infilling_facts, run.countdown_operands)


def induction_vocabulary(tokenizer: Any) -> tuple[tuple[int, ...], list[int]]:
    """(start ids, token ids) that the induction task draws its sequences from in this tokenizer:
    <bos> and the bundled symbols, or the declared BOS (if any) and the ordinary word tokens.
    For measurements that build their own repeated spans in the task's format."""
    if is_bundled(tokenizer):
        lex = Lexicon(tokenizer, (BOS,) + SYMBOLS, "induction")
        return lex.ids([BOS]), list(lex.ids(list(SYMBOLS)))
    vocabulary = NATURAL_TASKS["induction"].prepared(tokenizer)  # the same instance at every difficulty
    return vocabulary.bos, list(vocabulary.ordinary)


# Tasks that only a model reading the right context can answer (kept out of TASKS, whose pools need both models).
MDM_ONLY_TASKS: dict[str, Task] = {"backward_copy": BackwardCopy(induction_vocabulary)}


class TaskSet:
    """Every task's examples for one tokenizer, drawn on first use and then kept.

    n: candidates drawn per task; the bundled tasks keep all of them, the natural-language ones
    drop (and count, see `draw`) those the tokenizer cannot express.
    budget: whose difficulty the tasks take (default: the active run budget's).
    Iterating gives the paper's five tasks; `generators` holds every task this tokenizer can pose.
    """

    def __init__(self, tokenizer: Any, n: int = 1000, seed: int = 0, budget: run_budget.Budget | None = None) -> None:
        self.tokenizer, self.n, self.seed = tokenizer, n, seed
        self.generators = generators_for(tokenizer, budget)
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
        return iter(PAPER_TASKS)

    def __len__(self) -> int:
        return len(PAPER_TASKS)

    induction = property(lambda self: self["induction"])
    ioi = property(lambda self: self["ioi"])
    greater_than = property(lambda self: self["greater_than"])
    countdown = property(lambda self: self["countdown"])
    infilling = property(lambda self: self["infilling"])


__all__ = [
    "MDM_ONLY_TASKS", "NATURAL_TASKS", "PAPER_TASKS", "TASKS", "Draw", "TaskSet", "Task", "Regime", "build_tokenizer",
    "bundled_tasks", "first_occurrence_scores", "first_occurrence_targets", "generators_for", "induction_vocabulary",
    "is_bundled",
]
