"""Answer logits and the task metric, read the same way for every model and measurement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.queries.example import Example
from mechtests.queries.pose import Posed, pose

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


def gather_answer_logits(logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """(B, T, V) logits -> (B, A, V) at the posed read positions."""
    index = posed.read_positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1])
    return logits.gather(1, index)


def forward_logits(subject: "Subject", posed: Posed) -> torch.Tensor:
    """One plain forward pass (no nnsight, no grad): (B, T, V) logits."""
    with torch.no_grad():
        return subject.model(**posed.model_inputs()).logits


def answer_logits(
    subject: "Subject", examples: Sequence[Example] | Posed, corrupted: bool = False, batch_size: int = 256
) -> torch.Tensor:
    """(B, A, V) answer logits of `examples` (one pass per batch; MDM: all answers masked)."""
    if isinstance(examples, Posed):
        return gather_answer_logits(forward_logits(subject, examples), examples)
    chunks = []
    for start in range(0, len(examples), batch_size):
        posed = pose(subject, examples[start : start + batch_size], corrupted=corrupted)
        chunks.append(gather_answer_logits(forward_logits(subject, posed), posed))
    return torch.cat(chunks)


def metric(answer_logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """Per-example task metric, shape (B,).

    Logit difference (correct minus wrong) averaged over the active answer positions, or, for
    probability-mass tasks, the probability of the good set minus the bad set at the first
    answer position. Differentiable, so attribution methods use it too.
    """
    if posed.good is not None:
        probs = answer_logits[:, 0].float().softmax(-1)  # (B, V)
        return (probs * posed.good).sum(-1) - (probs * posed.bad).sum(-1)
    correct = answer_logits.gather(-1, posed.answer_ids.unsqueeze(-1)).squeeze(-1)  # (B, A)
    wrong = answer_logits.gather(-1, posed.wrong_ids.unsqueeze(-1)).squeeze(-1)  # (B, A)
    active = posed.active.to(answer_logits.dtype)
    return ((correct - wrong) * active).sum(-1) / active.sum(-1).clamp(min=1)


def correct(answer_logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """Per-example bool (B,): every active answer position's argmax is right (or in the good set)."""
    top = answer_logits.argmax(-1)  # (B, A)
    if posed.good is not None:
        return posed.good.gather(1, top[:, :1]).squeeze(1)
    return ((top == posed.answer_ids) | ~posed.active).all(-1)


def evaluate(subject: "Subject", examples: Sequence[Example], batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(metric, correct) per example, clean inputs, one pass per batch."""
    metrics, rights = [], []
    for start in range(0, len(examples), batch_size):
        posed = pose(subject, examples[start : start + batch_size])
        logits = gather_answer_logits(forward_logits(subject, posed), posed)
        metrics.append(metric(logits, posed))
        rights.append(correct(logits, posed))
    return torch.cat(metrics), torch.cat(rights)
