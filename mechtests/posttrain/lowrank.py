"""A low-rank delta (LoRA) on every linear projection of the decoder layers.

Training a rank-r delta instead of all weights keeps the optimizer state and the shipped file
small (SmolLM2-135M at rank 8: 2.4M numbers) while the base weights stay exactly those of the
ARM. Merging is W + (alpha / r) * B @ A, computed in float64 and rounded once to float32, so two
merges of the same files give the same bytes whatever the thread count.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The decoder's linear projections by their usual Hugging Face names (Llama, Qwen2, Mistral, ...):
# attention q/k/v/o and the gated MLP. GPT-2's fused Conv1D layers are not nn.Linear and are skipped.
TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LowRankLinear(nn.Module):
    """`base(x) + scale * x @ A.T @ B.T` with the base frozen; B starts at zero, so the delta does too."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(base.in_features)  # kaiming-uniform with a=sqrt(5), as nn.Linear and LoRA use
        a = (torch.rand(rank, base.in_features, generator=generator) * 2 - 1) * bound
        self.lora_A = nn.Parameter(a)  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))  # (out, r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


def merged_weight(weight: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """`weight + scale * b @ a` (out, in) in float32, computed in float64 so the bytes do not depend on threads."""
    return (weight.detach().double() + scale * (b.detach().double() @ a.detach().double())).float()


def attach(model: nn.Module, rank: int, alpha: float, seed: int) -> list[str]:
    """Freeze `model` and wrap every targeted nn.Linear in a LowRankLinear; returns the wrapped paths."""
    for p in model.parameters():
        p.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    wrapped = []
    for path, module in sorted(model.named_modules()):
        for name, child in list(module.named_children()):
            if name in TARGETS and isinstance(child, nn.Linear):
                setattr(module, name, LowRankLinear(child, rank, alpha, generator))
                wrapped.append(f"{path}.{name}" if path else name)
    return wrapped


def factors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every A and B factor by `path.lora_A` / `path.lora_B`."""
    return {name: p.detach() for name, p in model.named_parameters() if name.endswith((".lora_A", ".lora_B"))}
