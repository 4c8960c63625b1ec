"""Edge patching, the two passes a circuit is measured by (mechtests.measure.circuits): every
upstream node's output on a reference input, then a run whose dropped edges read those outputs
instead of their own upstream node's (mechtests.measure.attribution.engine.GraphRun)."""

from __future__ import annotations

import torch

from mechtests.measure.attribution.engine import GraphRun
from mechtests.measure.attribution.layout import Layout


def capture(layout: Layout, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Every upstream node's output (B, T, n_up, d), no grad."""
    return reference_run(layout, input_ids, attention_mask)[0]


def reference_run(layout: Layout, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(every upstream node's output (B, T, n_up, d), logits (B, T, V)) of one pass, no grad: the
    reference a patched run reads, and the metric of the input it came from."""
    with torch.no_grad(), GraphRun(layout) as run:
        logits = layout.subject.model(**layout.subject.model_inputs(input_ids, attention_mask)).logits
    return run.up, logits


def patched_logits(
    layout: Layout, input_ids: torch.Tensor, attention_mask: torch.Tensor, reference: torch.Tensor, drop: torch.Tensor
) -> torch.Tensor:
    """Logits (B, T, V) with the dropped edges reading `reference` upstream values."""
    with torch.no_grad(), GraphRun(layout, reference=reference, drop=drop, capture_up=False):
        return layout.subject.model(**layout.subject.model_inputs(input_ids, attention_mask)).logits


__all__ = ["capture", "patched_logits", "reference_run"]
