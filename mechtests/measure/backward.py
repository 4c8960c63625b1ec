"""Backward induction: the mirror of an induction head, which only a bidirectional model can have.

An induction head attends from a repeated token to the token *after* its previous occurrence
(and so predicts what comes next). Its mirror attends from a token to the token *before* the
next, later occurrence of that token: reversed in time, it is the same rule, and it is what an
MDM needs to fill a masked token to the left of a repeated span (mechtests.tasks.backward_copy).
The target lies after the query, so a causal (ARM) head puts exactly nothing on it.

- backward_induction: query t whose token occurs again later, at p (the nearest later
  occurrence, with p - 1 > t); target p - 1, the token that precedes it.

The rule is detect's induction rule on the reversed sequence, scored by detect.head_scores, so
padding, masked slots and special tokens are neither queries nor targets, exactly as there.
`.scores` and `.per_example` are the plain target mass. detect's causal-normalised twin divides
that mass by the head's mass at or before the query, which a target in the future makes
meaningless (0 for an ARM, unbounded for an MDM), so here `.causal` is the plain score again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.measure.detect import HeadScores, head_scores, induction_targets

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries.example import Example


def backward_induction_targets(ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, T) bool: target p - 1 for the nearest later occurrence p of the query's token (p - 1 > query)."""
    return induction_targets(ids.flip(1), valid.flip(1)).flip(1, 2)


def backward_induction(subject: "Subject", data: "Sequence[Example] | torch.Tensor", batch_size: int | None = None) -> HeadScores:
    """Mass from a token onto the token before its next occurrence, per head: a HeadScores whose
    `.scores` (n_layers, n_heads) lie in [0, 1], 0 for every head of a causal model, and `.causal`
    is the same (see the module docstring). Batched as detect.head_scores."""
    scores = head_scores(subject, data, backward_induction_targets, batch_size)
    return replace(scores, causal=scores.scores, causal_per_example=scores.per_example)


__all__ = ["backward_induction", "backward_induction_targets"]
