"""The backward copy task: its answer is the token before the span's later occurrence, and only an MDM reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

import mechtests
from mechtests.errors import MechtestsError
from mechtests.queries import pose
from mechtests.tasks import MDM_ONLY_TASKS, TASKS, build_tokenizer, induction_vocabulary
from mechtests.tasks.induction import LENGTH

TASK = MDM_ONLY_TASKS["backward_copy"]
PAIR = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"


def later_predecessor(tokens: tuple[int, ...], answer_at: int) -> int:
    """The token before the later occurrence of the span that follows the answer, found by search."""
    first = tokens[answer_at + 1]
    later = tokens.index(first, answer_at + 2)
    return tokens[later - 1]


@pytest.mark.parametrize("seed", [0, 7])
def test_the_answer_precedes_the_spans_later_occurrence(seed):
    tokenizer = build_tokenizer()
    start, pool = induction_vocabulary(tokenizer)
    for ex in TASK.generate(tokenizer, 50, seed):
        (at,) = ex.answer_positions
        assert at == len(start) == 1 and len(ex.tokens) == LENGTH and ex.right_context
        assert ex.tokens[:at] == start and set(ex.tokens[at:]) <= set(pool)
        assert ex.answer == (later_predecessor(ex.tokens, at),)
        assert ex.wrong == (later_predecessor(ex.corrupted, at),) != ex.answer


def test_it_stays_out_of_the_tasks_both_models_pool():
    assert "backward_copy" not in TASKS and TASK.regime == "globally-constrained"


def test_an_arm_reads_only_the_start_and_an_mdm_the_whole_sequence():
    arm, mdm = (mechtests.load_subject(PAIR / kind) for kind in ("arm", "mdm"))
    examples = TASK.generate(arm.tokenizer, 4, 0)
    assert pose(arm, examples).input_ids.shape[1] == 1  # the slot's read position is the start token
    posed = pose(mdm, examples)
    assert posed.input_ids.shape[1] == LENGTH and bool((posed.input_ids[:, 1] == mdm.mask_token_id).all())


def test_a_tokenizer_without_bos_gets_a_distinct_item_before_the_slot(bpe_single_digits):
    pool = list(range(100, 200))
    for ex in type(TASK)(lambda tok: ((), pool)).generate(bpe_single_digits, 20, 0):
        assert ex.answer_positions == (1,) and len(ex.tokens) == LENGTH and set(ex.tokens) <= set(pool)
        assert ex.tokens[0] not in ex.tokens[1:] + ex.corrupted[1:] and ex.answer == (later_predecessor(ex.tokens, 1),)


def test_a_vocabulary_too_small_is_refused_in_one_line(bpe_single_digits):
    with pytest.raises(MechtestsError, match="could pose only 0 of 5"):
        type(TASK)(lambda tok: ((), list(range(100, 100 + LENGTH)))).generate(bpe_single_digits, 5, 0)


def test_a_real_tokenizer_poses_it_from_its_ordinary_words(bpe_single_digits):
    start, pool = induction_vocabulary(bpe_single_digits)
    examples = TASK.generate(bpe_single_digits, 20, 3)
    assert all(ex.tokens[:1] == start and ex.answer == (later_predecessor(ex.tokens, 1),) for ex in examples)
    assert {t for ex in examples for t in ex.tokens[1:]} <= set(pool)
