"""Countdown's operands and Infilling's facts come from the run budget (issue #31), for the bundled
and the natural-language generators; the default budget keeps today's (3 and 4), and a Draw says
the difficulty it was drawn at."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from mechtests.errors import MechtestsError
from mechtests.run import budget as run_budget
from mechtests.tasks import TASKS, TaskSet, build_tokenizer, generators_for
from mechtests.tasks.countdown import unique_pairs

HARDER = replace(run_budget.DEFAULT, infilling_facts=6, countdown_operands=5)
EASIER = replace(run_budget.DEFAULT, infilling_facts=2)


def test_the_default_budget_keeps_four_facts_and_three_operands():
    assert (run_budget.DEFAULT.infilling_facts, run_budget.DEFAULT.countdown_operands) == (4, 3)
    tasks = TaskSet(build_tokenizer(), n=5)
    assert tasks.generators is TASKS
    assert tasks.draw("infilling").summary() == "5 of 5 candidates kept (4 facts)"
    assert tasks.draw("countdown").summary() == "5 of 5 candidates kept (3 operands)"
    assert tasks.draw("ioi").summary() == "5 of 5 candidates kept"  # a task without a difficulty says none


@pytest.mark.parametrize("budget", [HARDER, EASIER])
def test_bundled_tasks_take_the_budgets_difficulty(budget):
    tok = build_tokenizer()
    tasks = TaskSet(tok, n=50, seed=1, budget=budget)
    for e in tasks.infilling:
        words = tok.convert_ids_to_tokens(list(e.tokens))
        assert words.index(";") == 1 + 2 * budget.infilling_facts  # <bos>, then animal-colour pairs
    for e in tasks.countdown:
        words = tok.convert_ids_to_tokens(list(e.tokens))
        nums = [int(w) for w in words[2:words.index("make")]]
        assert len(nums) == budget.countdown_operands
        answer = tuple(nums.index(int(w)) for w in tok.convert_ids_to_tokens(list(e.answer)))
        assert answer in unique_pairs(nums) and nums[answer[0]] + nums[answer[1]] == int(words[words.index("make") + 1])
    assert f"({budget.infilling_facts} facts)" in tasks.draw("infilling").summary()


def test_natural_tasks_take_the_active_budgets_difficulty(bpe_single_digits):
    with run_budget.using(HARDER):
        tasks = TaskSet(bpe_single_digits, n=50, seed=1)  # no budget given: the run's
    assert tasks.generators is generators_for(bpe_single_digits, HARDER)
    for e in tasks.infilling:
        text = bpe_single_digits.decode(list(e.arm.tokens), skip_special_tokens=True)
        assert len(re.findall(r"\w+ is \w+[,. ]", text.split(" So ")[0])) == HARDER.infilling_facts
    for e in tasks.countdown:
        text = bpe_single_digits.decode(list(e.tokens), skip_special_tokens=True)
        listed = re.search(r"numbers ([\d, and]+) to make (\d+)", text)
        nums = [int(x) for x in re.findall(r"\d+", listed[1])]
        x, y = (int(bpe_single_digits.decode([t])) for t in e.answer)
        assert len(nums) == HARDER.countdown_operands and x + y == int(listed[2])
        assert (nums.index(x), nums.index(y)) in unique_pairs(nums)
    assert tasks.draw("countdown").difficulty == "5 operands"


def test_a_difficulty_out_of_range_is_a_one_line_error(bpe_single_digits):
    for bad in (replace(run_budget.DEFAULT, infilling_facts=1), replace(run_budget.DEFAULT, countdown_operands=2)):
        for tok in (build_tokenizer(), bpe_single_digits):
            with pytest.raises(MechtestsError) as info:
                TaskSet(tok, n=5, budget=bad)
            assert "\n" not in str(info.value) and "budget" in str(info.value)
