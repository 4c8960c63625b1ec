"""Turn examples into model input and say where their answer logits are read.

This is the one place that knows how an ARM and an MDM differ in what they see:
- ARM: the left context only (the causal mask hides the rest); earlier answer tokens of a
  multi-token answer are teacher-forced; logits read at the position before each answer token.
- MDM: answer positions replaced by the mask token (or filled, during k-step denoising); the
  right context kept where the example has one, dropped (padded out of attention) where it has
  not; logits read at the answer position (same-position) or the one before it (shifted).
The corrupted input keeps the answer positions, the mask configuration and any filled answer
tokens identical and changes only the context. Examples of different lengths share a batch by
right padding: a causal row never sees what follows it, and a bidirectional row's padded keys
are masked out, so no row's result depends on the others (tests/test_queries.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import torch

from mechtests.run import batching
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
    for probability-mass metrics, else None; good_after/bad_after: (B, V) the same at the second
    answer position, counted through the first position's tie (Example.after_tie), else None.
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
    good_after: torch.Tensor | None = None
    bad_after: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def model_inputs(self, subject: "Subject") -> dict[str, Any]:
        """Keyword arguments for `subject`'s forward, its attention mask in the form its family needs
        (a DiffuLLaMA-like MDM attends bidirectionally only when handed a 4-D mask)."""
        return subject.model_inputs(self.input_ids, self.attention_mask)

    def rows(self, start: int, stop: int) -> "Posed":
        """Rows start..stop-1 of the batch, for a pass that takes part of it (mechtests.run.batching);
        the padding is unchanged, so each row reads exactly as in the whole batch."""
        return Posed(**{k: (v[start:stop] if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()})

    def repeat(self, times: int) -> "Posed":
        """The batch stacked `times` times along the batch axis: one row block per variant that a
        pass runs side by side (an interpolation step, a swept head, a corrupted edge)."""
        return Posed(**{k: (v.repeat(times, *[1] * (v.ndim - 1)) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()})

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

    Examples of different lengths share the batch: each row is right-padded with the pad token
    and its attention mask ends where its own input ends, and its answers are read at its own
    positions; a model that cannot take an attention mask (`subject.allows_padding` False) is
    refused a mixed batch (group examples with `length_batches`). All rows need the same number
    of answer positions.

    fill: (B, A) token ids for answer positions already revealed during k-step denoising, -1
    where still masked (MDM only). None: every answer position is masked (MDM) or
    teacher-forced (ARM).
    """
    if not examples:
        raise MechtestsError("pose() got no examples", "pass at least one Example")
    views = [view_for(subject, ex) for ex in examples]
    _check_batchable(subject, views)
    positions = torch.tensor([v.answer_positions for v in views], dtype=torch.long)  # (B, A)
    answers = torch.tensor([v.answer for v in views], dtype=torch.long)  # (B, A)
    wrong = torch.tensor([v.wrong for v in views], dtype=torch.long)  # (B, A)
    ids = torch.full((len(views), max(len(v.tokens) for v in views)), _pad_id(subject), dtype=torch.long)  # (B, T)
    for row, view in enumerate(views):
        ids[row, : len(view.tokens)] = torch.tensor(view.corrupted if corrupted else view.tokens)
    # Answer slots hold the clean answer in both runs: only the context differs.
    ids.scatter_(1, positions, answers)
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
        # The right context where the task has one; otherwise the input ends with the last answer.
        ends = [len(v.tokens) if v.right_context else v.answer_positions[-1] + 1 for v in views]
        reads = positions if subject.prediction == "same-position" else positions - 1
    else:
        if fill is not None:
            raise MechtestsError("fill= applies to MDMs only", "an ARM reads all answer positions in one teacher-forced pass")
        ends = [v.answer_positions[-1] for v in views]  # the ARM never needs the last answer token itself
        reads = positions - 1
    length = max(ends)
    attention = (torch.arange(length).unsqueeze(0) < torch.tensor(ends).unsqueeze(1)).long()  # (B, T)
    ids = torch.where(attention.bool(), ids[:, :length], torch.full_like(attention, _pad_id(subject)))

    good = bad = good_after = bad_after = None
    if views[0].good is not None:
        good, bad = _token_sets(subject, [v.good for v in views]), _token_sets(subject, [v.bad for v in views])
    if views[0].after_tie is not None:
        good_after = _token_sets(subject, [v.after_tie[0] for v in views])  # type: ignore[index]
        bad_after = _token_sets(subject, [v.after_tie[1] for v in views])  # type: ignore[index]
    return Posed(
        input_ids=ids, attention_mask=attention, read_positions=reads, answer_positions=positions,
        answer_ids=answers, wrong_ids=wrong, active=active, good=good, bad=bad, good_after=good_after,
        bad_after=bad_after,
    ).to(subject.device)


def length_batches(subject: "Subject", examples: Sequence[Example], batch_size: int | None = None) -> list[list[int]]:
    """Index lists of at most `batch_size` examples to pose together, in order: consecutive
    examples when the model takes padding, else examples of one input length per batch. None:
    as many as the memory budget holds for a forward pass over the longest (mechtests.run.batching)."""
    if batch_size is None:
        longest = max((len(view_for(subject, e).tokens) for e in examples), default=1)
        batch_size = batching.rows_for(subject, longest)
    order = list(range(len(examples)))
    if not subject.allows_padding:
        order.sort(key=lambda i: len(view_for(subject, examples[i]).tokens))  # stable: keeps the order within a length
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and (subject.allows_padding or _same_length(subject, examples, batches[-1][0], i)):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _same_length(subject: "Subject", examples: Sequence[Example], i: int, j: int) -> bool:
    return len(view_for(subject, examples[i]).tokens) == len(view_for(subject, examples[j]).tokens)


def _pad_id(subject: "Subject") -> int:
    """The id written where attention is off (never read): pad, else end-of-text, else 0."""
    tok = subject.tokenizer
    for candidate in (getattr(tok, "pad_token_id", None), getattr(tok, "eos_token_id", None)):
        if candidate is not None:
            return int(candidate)
    return 0


def _token_sets(subject: "Subject", sets: Sequence[tuple[int, ...] | None]) -> torch.Tensor:
    """(B, V) bool, row b true at the ids of sets[b]."""
    out = torch.zeros(len(sets), subject.vocab_size, dtype=torch.bool)
    for row, ids in enumerate(sets):
        out[row, list(ids or ())] = True
    return out


def _check_batchable(subject: "Subject", views: Sequence[Example]) -> None:
    first = views[0]
    for ex in views[1:]:
        if len(ex.answer_positions) != len(first.answer_positions):
            raise MechtestsError(
                f"examples with {len(first.answer_positions)} and {len(ex.answer_positions)} answer tokens in one batch",
                "batch examples of one task together; a task gives all its examples one number of answer tokens",
            )
        if len(ex.tokens) != len(first.tokens) and not subject.allows_padding:
            raise MechtestsError(
                f"examples of {len(first.tokens)} and {len(ex.tokens)} tokens in one batch, and this model takes no padding",
                "pose examples of one length together (mechtests.queries.length_batches groups them)",
            )
        if (ex.good is None) != (first.good is None) or (ex.after_tie is None) != (first.after_tie is None):
            raise MechtestsError("a batch mixes probability-mass and logit-difference examples", "batch one task at a time")
