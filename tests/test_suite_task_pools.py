"""The suites leave out a task whose pool is below the budget's minimum, say so in the evidence,
and are not applicable only when no task is left (suites/conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mechtests.run import budget as run_budget
from mechtests.claims.evidence import collecting
from mechtests.claims.outcomes import NotApplicable

SPEC = importlib.util.spec_from_file_location("suites_conftest", Path(__file__).resolve().parents[1] / "suites" / "conftest.py")
suites_conftest = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(suites_conftest)


def _pool(small: set[str]):
    def pool(task: str) -> list:
        if task in small:
            raise NotApplicable(f"{task}: too few")
        return [task]

    return pool


def test_tasks_with_a_pool_are_kept_in_order_and_each_other_one_is_reported() -> None:
    reported: list[str] = []
    kept = suites_conftest.tasks_with_pools(["induction", "ioi", "greater_than", "infilling"], _pool({"ioi", "infilling"}), reported.append)
    assert kept == ["induction", "greater_than"] and reported == ["ioi", "infilling"]


def test_no_task_left_is_not_applicable_and_names_the_tasks() -> None:
    with run_budget.using(run_budget.BUDGETS["quick"]):
        with pytest.raises(NotApplicable, match="no task among countdown, infilling has a pool of the quick budget's minimum 20"):
            suites_conftest.tasks_with_pools(["countdown", "infilling"], _pool({"countdown", "infilling"}), lambda task: None)


def test_a_task_left_out_is_recorded_with_its_pool_against_the_minimum() -> None:
    entries: list[dict] = []
    with run_budget.using(run_budget.BUDGETS["quick"]), collecting(entries.append):
        suites_conftest.left_out("infilling", 0, 200, "both models answer")
    (entry,) = entries
    assert entry["name"] == "infilling: left out (both models answer 0 of 200 candidates correctly)"
    assert (entry["value"], entry["threshold"], entry["extra"]) == (0, 20, {"minimum_pool": 20})
