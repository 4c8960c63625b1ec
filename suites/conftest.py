"""Fixtures the hypothesis suites share; the heavy lifting is cached in mechtests.study.

Sizes come from the run budget (`--mech-budget`, mechtests.budget): the pools hold up to its
pool size, attributions use its EAP-IG steps, and a pool below its minimum makes the
hypothesis that needs it not applicable, with the pool size.
"""

from __future__ import annotations

import pytest

from mechtests import study


class Pools:
    """task -> the common-correct pool (up to the budget's pool size, 500 by default, of the
    examples both models answer correctly), built on first use, so that a task without a pool
    only troubles the hypotheses that need it."""

    def __init__(self, pair, tasks) -> None:
        self.pair, self.tasks = pair, tasks

    def __getitem__(self, task: str) -> list:
        return study.common_pool(self.pair.arm, self.pair.mdm, task, self.tasks[task])


@pytest.fixture
def pools(pair, tasks) -> Pools:
    return Pools(pair, tasks)


@pytest.fixture
def attributions(pair, pools):
    """`get(task, denoise_steps=1) -> (arm, mdm)` EAP-IG attributions on the task's common pool."""

    def get(task: str, denoise_steps: int = 1):
        return tuple(study.attribution(model, task, pools[task], denoise_steps=denoise_steps) for model in pair)

    return get
