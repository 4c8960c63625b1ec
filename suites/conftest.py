"""Fixtures the hypothesis suites share; the heavy lifting is cached in mechtests.study.

Sizes come from the run budget (`--mech-budget`, mechtests.run.budget): the pools hold up to its
pool size and attributions use its EAP-IG steps. A task whose pool is below the budget's
minimum (a small real model may answer too few of its candidates) is left out of the
hypotheses that loop over tasks, and each leaves a record saying how many examples it had;
a hypothesis left with no task of a regime it needs is not applicable. On the bundled pair
every task has its pool, so nothing is left out.
"""

from __future__ import annotations

from typing import Callable, Sequence

import pytest

import mechtests
from mechtests.run import budget as run_budget
from mechtests import study
from mechtests.claims.outcomes import NotApplicable


def left_out(task: str, correct: int, candidates: int, who_answers: str) -> None:
    """Record that `task` was left out of the running hypothesis, and why: its pool (the
    candidates `who_answers` correctly, e.g. "both models answer") is below the budget's minimum."""
    minimum = run_budget.active().min_pool
    mechtests.record(f"{task}: left out ({who_answers} {correct} of {candidates} candidates correctly)", correct,
                     threshold=minimum, minimum_pool=minimum)


def tasks_with_pools(tasks: Sequence[str], pool: Callable[[str], list], too_small: Callable[[str], None]) -> list[str]:
    """The tasks among `tasks` whose pool reaches the budget's minimum, in order; `too_small(task)`
    records each one left out. None left: NotApplicable, naming the tasks."""
    kept = []
    for task in tasks:
        try:
            pool(task)
        except NotApplicable:
            too_small(task)
            continue
        kept.append(task)
    if not kept:
        raise NotApplicable(f"no task among {', '.join(tasks)} has a pool of the {run_budget.active().name} budget's "
                            f"minimum {run_budget.active().min_pool} examples (each is recorded)")
    return kept


class Pools:
    """task -> the common-correct pool (up to `size`, by default the budget's pool size, 500, of the
    examples both models answer correctly), built on first use, so that a task without a pool
    only troubles the hypotheses that need it. `with_pools(tasks)` keeps the tasks that have one."""

    def __init__(self, pair, tasks, size: int | None = None) -> None:
        self.pair, self.tasks, self.size = pair, tasks, size
        self._recorded: set[str] = set()

    def __getitem__(self, task: str) -> list:
        return study.common_pool(self.pair.arm, self.pair.mdm, task, self.tasks[task], size=self.size)

    def attributions(self, task: str, denoise_steps: int = 1) -> tuple:
        """(arm, mdm) EAP-IG attributions on the task's pool."""
        return tuple(study.attribution(model, task, self[task], denoise_steps=denoise_steps) for model in self.pair)

    def with_pools(self, tasks: Sequence[str]) -> list[str]:
        return tasks_with_pools(tasks, self.__getitem__, self._left_out)

    def _left_out(self, task: str) -> None:
        if task in self._recorded:  # a hypothesis may ask about the same task more than once
            return
        self._recorded.add(task)
        examples = self.tasks[task]
        both = study.correctness(self.pair.arm, task, examples) & study.correctness(self.pair.mdm, task, examples)
        left_out(task, int(both.sum()), len(examples), "both models answer")


@pytest.fixture
def pools(pair, tasks) -> Pools:
    return Pools(pair, tasks)


@pytest.fixture
def make_pools(pair) -> Callable[..., Pools]:
    """`make_pools(tasks, size)`: common-correct pools of another task sample (robustness variants)."""
    return lambda tasks, size=None: Pools(pair, tasks, size)


@pytest.fixture
def own_tasks(tasks) -> Callable[..., list[str]]:
    """`own_tasks(subject, names)`: the tasks the model answers enough of its candidates for
    (its own pool; the others recorded as left out; none: NotApplicable)."""

    def keep(subject, names: Sequence[str]) -> list[str]:
        def too_small(task: str) -> None:
            correct = study.correctness(subject, task, tasks[task])
            left_out(task, int(correct.sum()), len(correct), f"the {subject.kind.upper()} answers")

        return tasks_with_pools(names, lambda task: study.own_pool(subject, task, tasks[task]), too_small)

    return keep


@pytest.fixture
def regime_tasks(pools) -> Callable[[str], list[str]]:
    """`regime_tasks(regime)`: the regime's tasks that have a common-correct pool (the others
    recorded as left out; none: NotApplicable)."""
    return lambda regime: pools.with_pools(study.tasks_in(regime))


@pytest.fixture
def attributions(pools):
    """`get(task, denoise_steps=1) -> (arm, mdm)` EAP-IG attributions on the task's common pool."""
    return pools.attributions
