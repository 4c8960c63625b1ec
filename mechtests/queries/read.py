"""Answer logits and the task metric, read the same way for every model and measurement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.run import batching, progress
from mechtests.queries.example import Example
from mechtests.queries.pose import Posed, length_batches, pose

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


def gather_answer_logits(logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """(B, T, V) logits -> (B, A, V) at the posed read positions."""
    index = posed.read_positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1])
    return logits.gather(1, index)


def forward_logits(subject: "Subject", posed: Posed) -> torch.Tensor:
    """One plain forward pass (no nnsight, no grad): (B, T, V) logits."""
    with torch.no_grad():
        return subject.model(**posed.model_inputs(subject)).logits


def answer_logits(
    subject: "Subject", examples: Sequence[Example] | Posed, corrupted: bool = False, batch_size: int | None = None
) -> torch.Tensor:
    """(B, A, V) answer logits of `examples` in their order (one pass per batch; MDM: all answers
    masked); `batch_size` None: from the memory budget (mechtests.run.batching)."""
    if isinstance(examples, Posed):
        posed = examples

        def chunk(start: int, stop: int, _rows: int) -> torch.Tensor:
            part = posed.rows(start, stop)
            return gather_answer_logits(forward_logits(subject, part), part)

        rows = batch_size or batching.rows_for(subject, posed.input_ids.shape[1])
        return torch.cat(batching.in_batches(chunk, len(posed), rows, f"answer reads on {subject.kind}"))
    parts = []
    for rows in length_batches(subject, examples, batch_size):
        posed = pose(subject, [examples[i] for i in rows], corrupted=corrupted)
        parts.append((rows, gather_answer_logits(forward_logits(subject, posed), posed)))
    return _in_order(parts)


def _slot_probs(answer_logits: torch.Tensor, posed: Posed, slot: int) -> torch.Tensor:
    """(B, V) probabilities at answer slot `slot`; a slot already revealed during k-step
    denoising (inactive) holds its revealed token for certain."""
    probs = answer_logits[:, slot].float().softmax(-1)
    inactive = ~posed.active[:, slot]
    if not bool(inactive.any()):
        return probs
    revealed = posed.input_ids.gather(1, posed.answer_positions[:, slot : slot + 1]).squeeze(1)  # (B,)
    certain = torch.nn.functional.one_hot(revealed, probs.shape[-1]).to(probs.dtype)
    return torch.where(inactive.unsqueeze(1), certain, probs)


def _slot_tokens(answer_logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """(B, A) the model's top token at each answer slot, or the revealed token where inactive."""
    top = answer_logits.argmax(-1)
    if bool(posed.active.all()):
        return top
    return torch.where(posed.active, top, posed.input_ids.gather(1, posed.answer_positions))


def metric(answer_logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """Per-example task metric, shape (B,).

    Logit difference (correct minus wrong) averaged over the active answer positions, or, for
    probability-mass tasks (greater-than), the probability mass above the threshold minus the
    mass at or below it: the good set minus the bad set at the first answer position, and where
    the answer is two ordered tokens (a year one digit per token; see
    mechtests.tasks.natural.greater_than) plus P(first = tie) x (good minus bad at the second).
    Differentiable and read from one forward pass, so attribution methods use it too.
    """
    if posed.good is not None:
        probs = _slot_probs(answer_logits, posed, 0)  # (B, V)
        mass = (probs * posed.good).sum(-1) - (probs * posed.bad).sum(-1)
        if posed.good_after is None:
            return mass
        tie = probs.gather(1, posed.answer_ids[:, :1]).squeeze(1)  # P(first token = the tie)
        second = _slot_probs(answer_logits, posed, 1)
        return mass + tie * ((second * posed.good_after).sum(-1) - (second * posed.bad_after).sum(-1))
    correct = answer_logits.gather(-1, posed.answer_ids.unsqueeze(-1)).squeeze(-1)  # (B, A)
    wrong = answer_logits.gather(-1, posed.wrong_ids.unsqueeze(-1)).squeeze(-1)  # (B, A)
    active = posed.active.to(answer_logits.dtype)
    return ((correct - wrong) * active).sum(-1) / active.sum(-1).clamp(min=1)


def answer_metric(logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """(B,) task metric of a pass's (B, T, V) logits, read at the posed answer positions: what a
    measurement that runs the model itself (hooks, traces, gradients) scores its pass by."""
    return metric(gather_answer_logits(logits, posed), posed)


def correct(answer_logits: torch.Tensor, posed: Posed) -> torch.Tensor:
    """Per-example bool (B,): every active answer position's argmax is right, or for probability-mass
    tasks the greedy answer is above the threshold (in the good set; for two ordered tokens: the
    first in the good set, or the tie followed by one in the second good set)."""
    if posed.good is not None:
        top = _slot_tokens(answer_logits, posed)  # (B, A)
        above = posed.good.gather(1, top[:, :1]).squeeze(1)
        if posed.good_after is None:
            return above
        tie = top[:, 0] == posed.answer_ids[:, 0]
        return above | (tie & posed.good_after.gather(1, top[:, 1:2]).squeeze(1))
    top = answer_logits.argmax(-1)  # (B, A)
    return ((top == posed.answer_ids) | ~posed.active).all(-1)


def evaluate(subject: "Subject", examples: Sequence[Example], batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(metric, correct) per example in their order, clean inputs, one pass per batch (`batch_size`
    None: from the memory budget)."""
    metrics, rights = [], []
    done = 0
    progress.step(f"answers of the {subject.kind}", 0, len(examples))
    for rows in length_batches(subject, examples, batch_size):
        posed = pose(subject, [examples[i] for i in rows])
        logits = gather_answer_logits(forward_logits(subject, posed), posed)
        metrics.append((rows, metric(logits, posed)))
        rights.append((rows, correct(logits, posed)))
        done += len(rows)
        progress.step(f"answers of the {subject.kind}", done, len(examples))
    return _in_order(metrics), _in_order(rights)


def _in_order(parts: list[tuple[list[int], torch.Tensor]]) -> torch.Tensor:
    """Per-batch results back in the examples' order."""
    rows = [i for r, _ in parts for i in r]
    out = torch.cat([t for _, t in parts])
    if rows == sorted(rows):
        return out
    return out[torch.tensor(rows, device=out.device).argsort()]
