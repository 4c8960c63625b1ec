"""How good the MDM is, on held-out text, with bootstrap intervals over rows.

- One-step masked-token accuracy: each held-out row gets a mask rate drawn from [0.15, 0.5]
  (seeded, the same masks for every model); accuracy is the share of masked tokens whose top
  prediction is right, pooled over tokens and resampled by row. The same tokens are scored for
  the MDM (masked input, bidirectional), the causal ARM (unmasked left context: next-token
  prediction) and the untrained weights run bidirectionally with the mask token.
- Right context: one span of 1-3 tokens per row, in the middle half, is masked; the MDM predicts
  it with the text to its right present, and again with everything right of the span masked.
- Bidirectionality by measurement: changing the last token moves the logits at earlier positions.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from mechtests.stats import Estimate, bootstrap, ratio_of_means

Logits = Callable[[torch.Tensor], torch.Tensor]  # ids (B, T) -> logits (B, T, V)
MASK_RATES = (0.15, 0.5)
CHUNK = 8  # rows per forward: a (8, T, V) logits tensor of a 49k vocabulary is ~100 MB at T=64


def heldout_masks(rows: torch.Tensor, seed: int) -> torch.Tensor:
    """(N, T) bool: each row masked at a rate drawn from MASK_RATES; never position 0; at least one."""
    N, T = rows.shape
    g = torch.Generator().manual_seed(seed + 424242)
    rate = torch.rand(N, 1, generator=g) * (MASK_RATES[1] - MASK_RATES[0]) + MASK_RATES[0]  # (N, 1)
    masked = torch.rand(N, T, generator=g) < rate  # (N, T)
    masked[:, 0] = False
    masked[torch.arange(N), torch.randint(1, T, (N,), generator=g)] = True
    return masked


@torch.no_grad()
def hits(logits_of: Logits, inputs: torch.Tensor, targets: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row: scored positions the shifted prediction gets right, their summed cross-entropy, and how many."""
    right, ce = torch.zeros(len(inputs)), torch.zeros(len(inputs))
    for start in range(0, len(inputs), CHUNK):
        part = slice(start, start + CHUNK)
        logits = logits_of(inputs[part])[:, :-1]  # (b, T-1, V): position i-1 predicts i
        goal, keep = targets[part, 1:], scored[part, 1:]
        right[part] = ((logits.argmax(-1) == goal) & keep).sum(1).float()
        ce[part] = (F.cross_entropy(logits.transpose(1, 2), goal, reduction="none") * keep).sum(1)
    return right, ce, scored[:, 1:].sum(1).float()


def accuracy(right: torch.Tensor, ce: torch.Tensor, total: torch.Tensor, seed: int) -> Estimate:
    """Pooled token accuracy with a bootstrap interval over rows."""
    return bootstrap(right, total, statistic=ratio_of_means, seed=seed)


def masked_accuracy(logits_of: Logits, rows: torch.Tensor, mask_id: int, seed: int) -> Estimate:
    """One-step accuracy on the masked tokens of the held-out rows, input masked (an MDM)."""
    masked = heldout_masks(rows, seed)
    return accuracy(*hits(logits_of, rows.masked_fill(masked, mask_id), rows, masked), seed)


def left_context_accuracy(logits_of: Logits, rows: torch.Tensor, seed: int) -> Estimate:
    """A causal ARM's next-token accuracy on the same tokens masked_accuracy scores."""
    return accuracy(*hits(logits_of, rows, rows, heldout_masks(rows, seed)), seed)


def heldout_scores(adapter, rows: torch.Tensor, seed: int) -> dict[str, Estimate]:
    """A training Adapter's (bidirectional) masked-token accuracy and cross-entropy: the card's curve."""
    masked = heldout_masks(rows, seed)
    right, ce, total = hits(lambda ids: adapter.logits(adapter.hidden(ids)), rows.masked_fill(masked, adapter.mask.id),
                            rows, masked)
    return {"accuracy": bootstrap(right, total, statistic=ratio_of_means, seed=seed),
            "masked_ce": bootstrap(ce, total, statistic=ratio_of_means, seed=seed)}


def infill_spans(rows: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) bool span to predict (1-3 tokens in the middle half) and (N, T) bool everything right of it."""
    N, T = rows.shape
    g = torch.Generator().manual_seed(seed + 777)
    length = torch.randint(1, 4, (N,), generator=g)
    start = torch.randint(T // 4, 3 * T // 4 - 3, (N,), generator=g)
    pos = torch.arange(T)[None]  # (1, T)
    span = (pos >= start[:, None]) & (pos < (start + length)[:, None])
    right = pos >= (start + length)[:, None]
    return span, right


def right_context(logits_of: Logits, rows: torch.Tensor, mask_id: int, seed: int) -> dict[str, Estimate]:
    """Accuracy on the span with the right context present, and with it masked."""
    span, right = infill_spans(rows, seed)
    present = rows.masked_fill(span, mask_id)
    hidden = rows.masked_fill(span | right, mask_id)
    return {"right_context_present": accuracy(*hits(logits_of, present, rows, span), seed),
            "right_context_masked": accuracy(*hits(logits_of, hidden, rows, span), seed)}


@torch.no_grad()
def later_token_effect(logits_of: Logits, rows: torch.Tensor, seed: int) -> Estimate:
    """Mean |change| of the logits at positions 0..T-2 when the last token is replaced: 0 for a causal model."""
    g = torch.Generator().manual_seed(seed + 99)
    changed = rows.clone()
    vocab = int(rows.max()) + 1
    changed[:, -1] = (rows[:, -1] + 1 + torch.randint(0, vocab - 1, (len(rows),), generator=g)) % vocab  # never the same
    moved = torch.zeros(len(rows))
    for start in range(0, len(rows), CHUNK):
        part = slice(start, start + CHUNK)
        moved[part] = (logits_of(rows[part])[:, :-1] - logits_of(changed[part])[:, :-1]).abs().mean((1, 2))
    return bootstrap(moved, seed=seed)
