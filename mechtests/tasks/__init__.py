"""Diagnostic tasks that mirror the paper's, over the bundled word-level vocabulary.

    from mechtests.tasks import TASKS, TaskSet, build_tokenizer
    tasks = TaskSet(build_tokenizer(), n=1000, seed=0)
    tasks.induction[0]          # an Example
    for name in tasks: ...      # induction, ioi, greater_than, countdown, infilling

prefix-dominant: induction, ioi, greater_than; globally-constrained: countdown, infilling.
"""

from __future__ import annotations

from typing import Iterator

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.tasks.base import Regime, Task
from mechtests.tasks.countdown import Countdown
from mechtests.tasks.greater_than import GreaterThan
from mechtests.tasks.induction import Induction, first_occurrence_scores, first_occurrence_targets
from mechtests.tasks.infilling import Infilling
from mechtests.tasks.ioi import IOI
from mechtests.tasks.vocab import build_tokenizer

TASKS: dict[str, Task] = {t.name: t for t in (Induction(), IOI(), GreaterThan(), Countdown(), Infilling())}


class TaskSet:
    """Every task's examples for one tokenizer, generated on first use and then kept."""

    def __init__(self, tokenizer, n: int = 1000, seed: int = 0) -> None:
        self.tokenizer, self.n, self.seed = tokenizer, n, seed
        self._cache: dict[str, list[Example]] = {}

    def __getitem__(self, name: str) -> list[Example]:
        if name not in TASKS:
            raise MechtestsError(f"unknown task {name!r}", f"use one of {', '.join(TASKS)}")
        if name not in self._cache:
            self._cache[name] = TASKS[name].generate(self.tokenizer, self.n, self.seed)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(TASKS)

    def __len__(self) -> int:
        return len(TASKS)

    induction = property(lambda self: self["induction"])
    ioi = property(lambda self: self["ioi"])
    greater_than = property(lambda self: self["greater_than"])
    countdown = property(lambda self: self["countdown"])
    infilling = property(lambda self: self["infilling"])


__all__ = ["TASKS", "TaskSet", "Task", "Regime", "build_tokenizer", "first_occurrence_scores", "first_occurrence_targets"]
