"""Forward passes that compute logits only at the positions the metric reads.

Why: the metric reads a few answer positions, and the unembedding (V x d per position) is a
large share of a small model's forward pass (about a fifth of SmolLM2-135M's). transformers'
causal-LM heads take `logits_to_keep`, a 1-D tensor of the positions to unembed for every row;
the read positions are then mapped to columns of the kept logits, so `metric` and
`gather_answer_logits` read exactly what they read from the full logits. A model whose forward
takes no `logits_to_keep` (some remote-code families) gets its full logits.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import TYPE_CHECKING, Any

import torch

from mechtests.queries.pose import Posed

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


def takes_logits_to_keep(subject: "Subject") -> bool:
    """Whether the model's forward accepts `logits_to_keep`."""
    return _forward_takes_logits_to_keep(type(subject.model))


@functools.lru_cache(maxsize=None)
def _forward_takes_logits_to_keep(model_class: type) -> bool:  # per class: inspecting a signature costs a pass's Python time
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def read_only_answers(subject: "Subject", input_ids: torch.Tensor, attention_mask: torch.Tensor, *posed: Posed) -> tuple[dict[str, Any], list[Posed]]:
    """Forward keyword arguments for (input_ids, attention_mask) that unembed only the positions
    some batch in `posed` reads, and each of those batches with its read positions mapped to the
    kept logits' columns (unchanged when the model computes all logits)."""
    inputs = subject.model_inputs(input_ids, attention_mask)
    if not takes_logits_to_keep(subject):
        return inputs, list(posed)
    keep = torch.unique(torch.cat([p.read_positions.reshape(-1) for p in posed]))  # sorted
    mapped = [dataclasses.replace(p, read_positions=torch.searchsorted(keep, p.read_positions)) for p in posed]
    return {**inputs, "logits_to_keep": keep}, mapped
