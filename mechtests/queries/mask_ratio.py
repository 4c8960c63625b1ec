"""The mask-ratio axis: an MDM example posed with a share of its context masked as well as its answer.

Early in denoising almost every position is masked, late almost none; `pose` gives every MDM
example one configuration (only the answer masked). Here a ratio r in [0, 1] also masks
round(r x n) of each example's n context positions: attended positions that are neither answer
slots nor the tokenizer's special tokens (the start token stays, as a sink to attend to).

Which positions: one seeded permutation of the context positions per example, from a generator
seeded by (seed, the example's index), masked in order. So the masks are the same for every
model and every call, a higher ratio masks a superset of a lower one's positions (profiles over
a grid are nested, not redrawn), and the corrupted input masks exactly the clean input's
positions: clean and corrupted still differ only in the context left visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.queries.pose import Posed, pose

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


def masked_count(ratio: float, n: int) -> int:
    """How many of n context positions a ratio masks: r x n rounded half up."""
    return int(ratio * n + 0.5)


def context_order(subject: "Subject", posed: Posed, seed: int) -> list[torch.Tensor]:
    """Per row, its maskable context positions in the order they are masked (a seeded permutation)."""
    special = torch.tensor(sorted({int(i) for i in getattr(subject.tokenizer, "all_special_ids", [])} | {int(subject.mask_token_id)}))
    ids, attended = posed.input_ids.cpu(), posed.attention_mask.cpu().bool()
    answer = torch.zeros_like(attended).scatter_(1, posed.answer_positions.cpu(), True)
    maskable = attended & ~answer & ~torch.isin(ids, special)  # (B, T)
    orders = []
    for row in range(len(posed)):
        positions = maskable[row].nonzero().squeeze(1)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + row)
        orders.append(positions[torch.randperm(len(positions), generator=gen)])
    return orders


def mask_context(subject: "Subject", posed: Posed, orders: Sequence[torch.Tensor], ratio: float) -> Posed:
    """`posed` with round(ratio x n) of each row's context positions (the first of its order) masked."""
    ids = posed.input_ids.clone()
    for row, order in enumerate(orders):
        ids[row, order[: masked_count(ratio, len(order))].to(ids.device)] = int(subject.mask_token_id)  # type: ignore[arg-type]
    return Posed(**{**posed.__dict__, "input_ids": ids})


def masked_pairs(subject: "Subject", examples: Sequence[Example], ratio: float, seed: int) -> tuple[Posed, Posed]:
    """(clean, corrupted) batches of `examples` with `ratio` of the context masked, one mask configuration
    for both (the clean input's maskable positions; the corrupted input keeps the same answer slots)."""
    if not subject.is_mdm:
        raise MechtestsError("a mask ratio applies to MDMs only: an ARM has no mask token",
                             "pose the ARM with mechtests.queries.pose and use it as the reference at ratio 0")
    if not 0.0 <= ratio <= 1.0:
        raise MechtestsError(f"mask ratio {ratio!r} is outside [0, 1]", "pass a share of the context, e.g. 0.25")
    clean, corrupted = pose(subject, examples), pose(subject, examples, corrupted=True)
    orders = context_order(subject, clean, seed)
    return mask_context(subject, clean, orders, ratio), mask_context(subject, corrupted, orders, ratio)


__all__ = ["context_order", "mask_context", "masked_count", "masked_pairs"]
