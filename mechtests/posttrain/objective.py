"""The adaptation objective as published (DiffuGPT/DiffuLLaMA, Gong et al. 2024).

- Each row draws a mask rate t ~ U(eps, 1); each token (but the first, which a shifted model
  cannot predict) is replaced by the mask token with probability t.
- The shift is kept: the hidden state at position i-1 predicts the token at i, as in the ARM.
- The loss is the cross-entropy on masked tokens weighted by 1/t, summed and divided by the
  number of predictable positions (the ELBO of masked diffusion with a linear schedule).
- Attention is annealed from causal to bidirectional: while `openness` < 1 every future key is
  visible with probability `openness` (on top of the causal triangle); at 1 all keys are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mechtests.posttrain.adapter import Adapter

MIN_MASK_RATE = 1e-3  # t's floor, so 1/t stays finite


@dataclass
class StepLoss:
    loss: torch.Tensor  # the weighted objective (a scalar with grad)
    masked_ce: float  # plain mean cross-entropy over the masked tokens, comparable across steps
    mask_rate: float  # mean t of the batch
    n_masked: int


def opening_mask(B: int, T: int, openness: float, generator: torch.Generator) -> torch.Tensor | None:
    """(B, 1, T, T) bool, True = may attend: causal plus each future key with probability `openness`."""
    if openness >= 1.0:
        return None
    future = torch.rand(B, 1, T, T, generator=generator) < openness
    return torch.tril(torch.ones(T, T, dtype=torch.bool)) | future


def sample_masks(B: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask rates t (B,) and the masked positions (B, T) bool; position 0 is never masked."""
    t = torch.rand(B, generator=generator) * (1 - MIN_MASK_RATE) + MIN_MASK_RATE  # (B,)
    masked = torch.rand(B, T, generator=generator) < t[:, None]  # (B, T)
    masked[:, 0] = False
    return t, masked


def masked_diffusion_loss(adapter: Adapter, x: torch.Tensor, openness: float, generator: torch.Generator) -> StepLoss:
    """The 1/t-weighted masked-token loss of one batch x (B, T) of token ids."""
    B, T = x.shape
    t, masked = sample_masks(B, T, generator)  # drawn on the CPU: the same masks on every device
    attention = opening_mask(B, T, openness, generator)
    x, t, masked = x.to(adapter.device), t.to(adapter.device), masked.to(adapter.device)
    attention = attention.to(adapter.device) if attention is not None else None
    inputs = x.masked_fill(masked, adapter.mask.id)
    hidden = adapter.hidden(inputs, attention)  # (B, T, d)
    rows, cols = masked.nonzero(as_tuple=True)  # (M,), (M,): cols >= 1
    logits = adapter.logits(hidden[rows, cols - 1])  # (M, V): shifted, position i-1 predicts i
    ce = F.cross_entropy(logits, x[rows, cols], reduction="none")  # (M,)
    loss = (ce / t[rows]).sum() / (B * (T - 1))
    return StepLoss(loss=loss, masked_ce=float(ce.detach().mean()) if len(ce) else 0.0, mask_rate=float(t.mean()),
                    n_masked=int(len(ce)))
