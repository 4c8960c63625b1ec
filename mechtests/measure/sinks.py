"""Attention sinks over the steps of denoising: does the position that draws the most attention stay put?

An ARM's sink is usually the first token, and it stays there as generation appends tokens. In
diffusion LMs sinks were found to move from step to step as tokens are unmasked (arXiv
2510.15731). Here a layer's sink is the key position with the most attention mass, averaged
over the heads and the attended queries; its stability over a trajectory of S steps is the
share of consecutive steps at which it stays at the same position, averaged over the layers
(1: it never moves).

The trajectories compared, on the same examples:
- MDM: a context denoising schedule of S steps: at step j the context is masked at ratio
  1 - (j + 1) / S in the seeded order of mechtests.queries.mask_ratio (each step unmasks the next
  share of positions, the answer slots masked throughout), ending with the whole context visible;
- ARM: generation reaching the same points: at step j it has read the first (j + 1) / S of the
  context (and its start), which a causal model computes in one pass: step j's sink is read from
  the queries and keys of that prefix alone.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.measure.detect import attention_patterns
from mechtests.queries.mask_ratio import context_order, mask_context
from mechtests.queries.pose import Posed, pose
from mechtests.run import batching

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries.example import Example

STEPS = 4  # a trajectory's steps: the context revealed in quarters


def sinks(subject: "Subject", input_ids: torch.Tensor, attention_mask: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """(B, L) each layer's sink: the key with the most mass averaged over heads and attended queries,
    among the first `lengths[b]` positions of row b (queries and keys alike; None: the attended ones)."""
    attended = attention_mask.bool().cpu()
    if lengths is not None:
        attended = attended & (torch.arange(attended.shape[1])[None, :] < lengths[:, None])

    def chunk(start: int, stop: int, _rows: int) -> torch.Tensor:
        seen = attended[start:stop].float()  # (b, T)
        out = []
        for probs in attention_patterns(subject, input_ids[start:stop], attention_mask[start:stop]):  # (b, H, T, T)
            mass = (probs * seen[:, None, :, None]).sum((1, 2)) / (probs.shape[1] * seen.sum(1, keepdim=True))  # (b, T)
            out.append(mass.masked_fill(~attended[start:stop], -1.0).argmax(-1))
        return torch.stack(out, dim=1)  # (b, L)

    rows = batching.rows_for(subject, input_ids.shape[1], patterns=True)
    return torch.cat(batching.in_batches(chunk, input_ids.shape[0], rows, f"attention sinks on {subject.kind}", "examples"))


def stability(positions: torch.Tensor) -> torch.Tensor:
    """(B,) from (B, S, L) sink positions: the share of consecutive steps whose sink stays, averaged over layers."""
    return (positions[:, 1:] == positions[:, :-1]).float().mean((1, 2))


def mdm_trajectory(subject: "Subject", examples: "Sequence[Example]", steps: int = STEPS, seed: int = 0) -> torch.Tensor:
    """(B, S, L) the MDM's sinks at each step of the context denoising schedule (the module docstring)."""
    posed = pose(subject, examples)
    orders = context_order(subject, posed, seed)
    per_step = []
    for j in range(steps):
        masked = mask_context(subject, posed, orders, 1.0 - (j + 1) / steps)
        per_step.append(sinks(subject, masked.input_ids.cpu(), masked.attention_mask.cpu()))
    return torch.stack(per_step, dim=1)


def arm_trajectory(subject: "Subject", examples: "Sequence[Example]", steps: int = STEPS) -> torch.Tensor:
    """(B, S, L) the ARM's sinks as it has read (j + 1) / S of the context, from one causal pass per step's prefix."""
    posed: Posed = pose(subject, examples)
    ids, attention = posed.input_ids.cpu(), posed.attention_mask.cpu()
    length = attention.sum(1)  # (B,) the context the ARM reads, its start included
    per_step = []
    for j in range(steps):
        prefix = torch.tensor([1 + math.ceil((int(n) - 1) * (j + 1) / steps) for n in length])
        per_step.append(sinks(subject, ids, attention, prefix))
    return torch.stack(per_step, dim=1)


__all__ = ["STEPS", "arm_trajectory", "mdm_trajectory", "sinks", "stability"]
