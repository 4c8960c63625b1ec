"""The mask-ratio axis against poses built by hand, its profiles' slopes, and attention sinks over steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechtests.errors import MechtestsError
from mechtests.measure import mask_sweep, sinks
from mechtests.measure.detect import induction
from mechtests.queries import evaluate, pose
from mechtests.queries.mask_ratio import masked_pairs
from mechtests.stats import sample_key
from mechtests.tasks import TaskSet

from measure_helpers import bundled


def hand_posed(subject, example, row: int, ratio: float, seed: int, corrupted: bool = False) -> list[int]:
    """The MDM's input for one example, written out: the answer slots masked, the right context kept
    only where the example has one, and of the context positions that are not special tokens, the
    first round-half-up(ratio x n) of torch.randperm(n) seeded seed * 1_000_003 + row masked."""
    tokens = list(example.corrupted if corrupted else example.tokens)
    end = len(tokens) if example.right_context else example.answer_positions[-1] + 1
    special = set(subject.tokenizer.all_special_ids)
    context = [t for t in range(end) if t not in example.answer_positions and example.tokens[t] not in special]
    order = torch.randperm(len(context), generator=torch.Generator().manual_seed(seed * 1_000_003 + row)).tolist()
    masked = {context[i] for i in order[: int(np.floor(ratio * len(context) + 0.5))]} | set(example.answer_positions)
    return [subject.mask_token_id if t in masked else tokens[t] for t in range(end)]


@pytest.fixture(scope="module")
def mdm():
    return bundled("mdm")


@pytest.fixture(scope="module")
def mixed(mdm):
    """Infilling (right context kept) and induction (input ends at the answer) examples in one batch."""
    tasks = TaskSet(mdm.tokenizer, n=6, seed=3)
    return tasks.infilling[:3] + tasks.induction[:3]


def test_the_grid_poses_what_a_hand_built_pose_is(mdm, mixed):
    seen = []

    def capture(clean, corrupted):
        seen.append((clean, corrupted))
        return np.zeros(len(clean))

    profile = mask_sweep.sweep(mdm, mixed, capture, "captured", seed=11)
    assert profile.ratios == mask_sweep.GRID and profile.values.shape == (len(mixed), len(mask_sweep.GRID))
    for ratio, (clean, corrupted) in zip(mask_sweep.GRID, seen):
        for row, example in enumerate(mixed):
            for posed, flag in ((clean, False), (corrupted, True)):
                expected = hand_posed(mdm, example, row, ratio, seed=11, corrupted=flag)
                got = posed.input_ids[row][posed.attention_mask[row].bool()].tolist()
                assert got == expected, (ratio, row, flag)


def test_masks_are_nested_seeded_and_shared_by_clean_and_corrupted(mdm, mixed):
    mask = lambda posed: posed.input_ids == mdm.mask_token_id  # noqa: E731
    low, high = masked_pairs(mdm, mixed, 0.25, seed=1), masked_pairs(mdm, mixed, 0.75, seed=1)
    assert bool((mask(low[0]) <= mask(high[0])).all()) and bool((mask(low[0]) != mask(high[0])).any())
    assert torch.equal(mask(high[0]), mask(high[1]))
    assert torch.equal(masked_pairs(mdm, mixed, 0.5, seed=1)[0].input_ids, masked_pairs(mdm, mixed, 0.5, seed=1)[0].input_ids)
    assert not torch.equal(masked_pairs(mdm, mixed, 0.5, seed=2)[0].input_ids, masked_pairs(mdm, mixed, 0.5, seed=1)[0].input_ids)
    assert torch.equal(masked_pairs(mdm, mixed, 0.0, seed=5)[0].input_ids, pose(mdm, mixed).input_ids)


def test_bad_ratios_and_an_arm_are_refused_in_one_line(mdm, mixed):
    with pytest.raises(MechtestsError, match="outside"):
        masked_pairs(mdm, mixed, 1.5, seed=0)
    with pytest.raises(MechtestsError, match="MDMs only"):
        masked_pairs(bundled("arm"), mixed, 0.5, seed=0)
    with pytest.raises(MechtestsError, match="increasing"):
        mask_sweep.sweep(mdm, mixed, lambda c, k: np.zeros(len(c)), "x", ratios=(0.5, 0.25))


def test_correctness_at_ratio_zero_is_the_plain_evaluation(mdm, mixed):
    profile = mask_sweep.correctness(mdm, mixed, ratios=(0.0, 0.5), seed=0)
    assert profile.values[:, 0].tolist() == evaluate(mdm, mixed)[1].float().tolist()


def test_a_head_score_at_ratio_zero_is_the_detectors_and_masked_queries_drop_out(mdm):
    examples = TaskSet(mdm.tokenizer, n=8, seed=1).induction
    profile = mask_sweep.head_score(mdm, examples, induction, 1, 0, ratios=(0.0, 0.75), seed=0)
    np.testing.assert_allclose(profile.values[:, 0], induction(mdm, examples).per_example[:, 1, 0].numpy(), rtol=0, atol=1e-6)
    assert not np.isnan(profile.values[:, 0]).any() and np.isnan(profile.values[:, 1]).sum() >= len(examples) // 2  # repeats masked away
    with pytest.raises(MechtestsError, match="different input lengths"):
        mask_sweep.head_score(mdm, TaskSet(mdm.tokenizer, n=2, seed=0).infilling + examples[:1], induction, 1, 0)


def test_slope_is_each_examples_least_squares_slope():
    x = np.array(mask_sweep.GRID)
    values = np.stack([0.6 - 0.2 * x, 0.5 + 0.1 * x, 0.4 + np.nan * x])  # the third example has no slope
    profile = mask_sweep.RatioProfile(mask_sweep.GRID, values, "share", sample_key([(1,), (2,), (3,)]))
    np.testing.assert_allclose(profile.slopes()[:2], [-0.2, 0.1])
    assert np.isnan(profile.slopes()[2])
    assert profile.slope().value == pytest.approx(-0.05) and profile.slope_size().value == pytest.approx(0.05)
    assert profile.at(0.25).value == pytest.approx((0.55 + 0.525) / 2)  # the third left out


def test_the_arms_sinks_per_step_are_those_of_its_prefix_alone():
    arm = bundled("arm")
    examples = TaskSet(arm.tokenizer, n=4, seed=0).ioi
    trajectory = sinks.arm_trajectory(arm, examples, steps=3)  # (B, 3, L)
    posed = pose(arm, examples)
    for row in range(len(examples)):
        n = int(posed.attention_mask[row].sum())
        for step in range(3):
            keep = 1 + int(np.ceil((n - 1) * (step + 1) / 3))
            ids = posed.input_ids[row : row + 1, :keep]
            assert trajectory[row, step].tolist() == sinks.sinks(arm, ids, torch.ones_like(ids))[0].tolist()


def test_stability_counts_the_steps_whose_sink_stays():
    positions = torch.tensor([[[0, 0], [0, 3], [0, 3]], [[1, 2], [4, 2], [1, 5]]])  # (B=2, S=3, L=2)
    assert sinks.stability(positions).tolist() == [0.75, 0.25]
