"""Turn examples into model input and say where their answer logits are read.

This is the one place that knows how an ARM and an MDM differ in what they see:
- ARM: the left context only (the causal mask hides the rest); earlier answer tokens of a
  multi-token answer are teacher-forced; logits read at the position before each answer token.
- MDM: answer positions replaced by the mask token (or filled, during k-step denoising); the
  right context kept where the example has one, dropped (padded out of attention) where it has
  not; logits read at the answer position (same-position) or the one before it (shifted).
The corrupted input keeps the answer positions, the mask configuration and any filled answer
tokens identical and changes only the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.errors import MechtestsError
from mechtests.queries.example import Example

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


@dataclass
class Posed:
    """A batch ready for a forward pass, and where to read its answers.

    input_ids, attention_mask: (B, T); read_positions, answer_positions, answer_ids, wrong_ids,
    active: (B, A); active marks the answer positions that count for the metric (all of them,
    except during k-step denoising where only the still-masked ones do). good/bad: (B, V) bool
    for probability-mass metrics, else None.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    read_positions: torch.Tensor
    answer_positions: torch.Tensor
    answer_ids: torch.Tensor
    wrong_ids: torch.Tensor
    active: torch.Tensor
    good: torch.Tensor | None = None
    bad: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """Keyword arguments for the model's forward."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}

    def to(self, device: torch.device | str) -> "Posed":
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return Posed(**moved)


def view_for(subject: "Subject", example: Example) -> Example:
    """The form of the example this model reads: the ARM form where the task gives one."""
    return example.arm if (not subject.is_mdm and example.arm is not None) else example


def pose(
    subject: "Subject",
    examples: Sequence[Example],
    corrupted: bool = False,
    fill: torch.Tensor | None = None,
) -> Posed:
    """Build the batch for `examples` as `subject` should see them.

    fill: (B, A) token ids for answer positions already revealed during k-step denoising, -1
    where still masked (MDM only). None: every answer position is masked (MDM) or
    teacher-forced (ARM).
    """
    if not examples:
        raise MechtestsError("pose() got no examples", "pass at least one Example")
    views = [view_for(subject, ex) for ex in examples]
    _check_batchable(views)
    source = [v.corrupted if corrupted else v.tokens for v in views]
    ids = torch.tensor(source, dtype=torch.long)  # (B, T)
    positions = torch.tensor([v.answer_positions for v in views], dtype=torch.long)  # (B, A)
    answers = torch.tensor([v.answer for v in views], dtype=torch.long)  # (B, A)
    wrong = torch.tensor([v.wrong for v in views], dtype=torch.long)  # (B, A)
    # Answer slots hold the clean answer in both runs: only the context differs.
    ids.scatter_(1, positions, answers)
    attention = torch.ones_like(ids)
    active = torch.ones_like(positions, dtype=torch.bool)

    if subject.is_mdm:
        mask_id = int(subject.mask_token_id)  # type: ignore[arg-type]
        slot_tokens = torch.full_like(positions, mask_id)
        if fill is not None:
            if fill.shape != positions.shape:
                raise MechtestsError(f"fill has shape {tuple(fill.shape)}, expected {tuple(positions.shape)}", "pass one id (or -1) per answer position")
            slot_tokens = torch.where(fill >= 0, fill, slot_tokens)
            active = fill < 0
        ids.scatter_(1, positions, slot_tokens)
        for row, view in enumerate(views):
            if not view.right_context:
                attention[row, view.answer_positions[-1] + 1 :] = 0
        reads = positions if subject.prediction == "same-position" else positions - 1
        length = ids.shape[1] if any(v.right_context for v in views) else int(positions.max()) + 1
    else:
        if fill is not None:
            raise MechtestsError("fill= applies to MDMs only", "an ARM reads all answer positions in one teacher-forced pass")
        reads = positions - 1
        length = int(positions.max())  # the ARM never needs the last answer token itself
    ids, attention = ids[:, :length], attention[:, :length]
    pad = subject.tokenizer.pad_token_id
    if pad is not None:
        ids = torch.where(attention.bool(), ids, torch.full_like(ids, int(pad)))

    good = bad = None
    if views[0].good is not None:
        vocab = subject.vocab_size
        good = torch.zeros(len(views), vocab, dtype=torch.bool)
        bad = torch.zeros(len(views), vocab, dtype=torch.bool)
        for row, view in enumerate(views):
            good[row, list(view.good)] = True  # type: ignore[arg-type]
            bad[row, list(view.bad)] = True  # type: ignore[arg-type]
    device = subject.device
    return Posed(
        input_ids=ids, attention_mask=attention, read_positions=reads, answer_positions=positions,
        answer_ids=answers, wrong_ids=wrong, active=active, good=good, bad=bad,
    ).to(device)


def _check_batchable(views: Sequence[Example]) -> None:
    first = views[0]
    for ex in views[1:]:
        if len(ex.tokens) != len(first.tokens) or len(ex.answer_positions) != len(first.answer_positions):
            raise MechtestsError(
                f"examples of different shapes in one batch ({len(first.tokens)} vs {len(ex.tokens)} tokens, "
                f"{len(first.answer_positions)} vs {len(ex.answer_positions)} answers)",
                "batch examples of one task together; a task must give all its examples one length",
            )
        if (ex.good is None) != (first.good is None):
            raise MechtestsError("a batch mixes probability-mass and logit-difference examples", "batch one task at a time")
