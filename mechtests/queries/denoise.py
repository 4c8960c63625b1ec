"""k-step denoising for multi-token answers, with the mask configuration of every step kept.

The MDM fills its answer slots over k steps, each step unmasking the slots it is most
confident about (with its own prediction), as Dream and LLaDA decode. The schedule is taken
from the clean run and replayed unchanged on the corrupted input, so that clean and corrupted
differ only in context. Measurements run on each step's Posed batch and aggregate over steps.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example
from mechtests.queries.pose import Posed, pose
from mechtests.queries.read import answer_logits

if TYPE_CHECKING:
    from mechtests.models.subject import Subject

StepPairs = Sequence[tuple[Posed, Posed]]  # (clean, corrupted) batches, one per denoising step


def denoise_schedule(subject: "Subject", examples: Sequence[Example], steps: int) -> list[torch.Tensor]:
    """The fill state (B, A) before each of `steps` steps: token ids revealed so far, -1 where masked.

    An ARM has one step (teacher forcing), whatever `steps` says.
    """
    if steps < 1:
        raise MechtestsError(f"steps must be at least 1, got {steps}", "pass steps=1 for one-shot prediction")
    clean = pose(subject, examples)
    if not subject.is_mdm:
        return [torch.full_like(clean.answer_ids, -1)]
    n_answers = clean.answer_ids.shape[1]
    steps = min(steps, n_answers)
    fill = torch.full_like(clean.answer_ids, -1)
    fills = []
    for step in range(steps):
        fills.append(fill.clone())
        posed = pose(subject, examples, fill=fill)
        logits = answer_logits(subject, posed)  # (B, A, V), in passes the memory budget holds
        confidence, prediction = logits.float().softmax(-1).max(-1)  # (B, A)
        confidence = confidence.masked_fill(fill >= 0, -1.0)
        remaining = n_answers - step * math.ceil(n_answers / steps)
        k = min(math.ceil(n_answers / steps), max(remaining, 0))
        chosen = confidence.topk(k, dim=-1).indices  # (B, k)
        fill = fill.scatter(1, chosen, prediction.gather(1, chosen))
    return fills


def posed_steps(subject: "Subject", examples: Sequence[Example], steps: int = 1) -> list[tuple[Posed, Posed]]:
    """(clean, corrupted) batches for each denoising step, sharing one mask schedule."""
    schedule = denoise_schedule(subject, examples, steps)
    if not subject.is_mdm:
        return [(pose(subject, examples), pose(subject, examples, corrupted=True))]
    return [(pose(subject, examples, fill=f), pose(subject, examples, corrupted=True, fill=f)) for f in schedule]


def step_pairs(subject: "Subject", data: "Sequence[Example] | StepPairs", denoise_steps: int = 1) -> list[tuple[Posed, Posed]]:
    """(clean, corrupted) batches for each denoising step: Examples posed through `posed_steps`,
    or pairs a caller posed itself, taken as they are."""
    data = list(data)
    if not data:
        raise MechtestsError("attribution got no examples", "pass a list of Examples or of (clean, corrupted) Posed pairs")
    if isinstance(data[0], tuple):
        return data  # type: ignore[return-value]
    return posed_steps(subject, data, denoise_steps)  # type: ignore[arg-type]
