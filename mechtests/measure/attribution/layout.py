"""What the graph engine reads of one subject, once per measurement: its module handles and the
weights that give each head its own input.

Heads of layer l all read x = resid_pre(l) through the attention norm and the q/k/v projections.
To give head h its own copy x_h, the engine normalises each copy and recomputes the head's
slices of the q/k/v outputs from it (W[h] norm(x_h) + b[h]; `qkv_outputs`). Under grouped-query
attention a key/value head is shared by its group: it reads the mean of the group's normalised
inputs, so each head of the group gets 1/group of its gradient (`head_input_weights`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from mechtests.errors import MechtestsError
from mechtests.measure.attribution.graph import graph_for
from mechtests.measure.attribution.norms import NormPullback, norm_pullback

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


def first_output(value: Any) -> Any:
    """A module's output tensor, where the module returns a tuple led by it."""
    return value[0] if isinstance(value, tuple) else value


class Layout:
    """Weights and module handles of one subject, read once per measurement (the block's layout
    comes from the Subject, which asks its architecture map)."""

    def __init__(self, subject: "Subject") -> None:
        if subject.arch.parallel:
            raise MechtestsError(
                f"edge attribution on {subject.path}: its map declares parallel blocks, and the graph assumes "
                "each MLP reads the stream after its layer's attention",
                "use node-level measurements (mechtests.measure.interventions) on this model",
            )
        self.subject, self.graph = subject, graph_for(subject)
        n = subject.n_layers
        self.layers = list(subject.layer_modules())
        self.mlp_norm = [subject.block_module(l, "mlp_norm") for l in range(n)]
        self.attn_norm = [subject.block_module(l, "attn_norm") for l in range(n)]
        self.mlp = [subject.block_module(l, "mlp") for l in range(n)]
        self.proj = [subject.qkv_modules(l) for l in range(n)]
        self.w_out = [subject.out_proj_weight(l).detach() for l in range(n)]  # (H, dh, d)
        self.w_qkv = [[w.detach() for w in subject.qkv_weights(l)] for l in range(n)]  # (H, dh, d), (H_kv, dh, d) x 2
        self.group = subject.n_heads // subject.n_kv_heads
        self.n_heads, self.d_head, self.qkv_rows = subject.n_heads, subject.d_head, subject.qkv_rows()  # read once: each read parses the config
        self._pullbacks: dict[int, NormPullback | None] = {}
        self._at_zero: dict[int, list[torch.Tensor]] = {}

    def head_input_weights(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What turns head-space q/k/v gradients of each head into a gradient at its normalised
        input, folded through the attention norm's weight where its VJP has a closed form
        (mechtests.measure.attribution.norms), on `like`'s device in its dtype: [W_q | W_k | W_v] per head (H, 3 dh, d)
        when every head has its own key and value, else W_q (H, dh, d) and [W_k | W_v] / group per
        key/value head (H_kv, 2 dh, d)."""
        w_q, w_k, w_v = (w.to(like.device, like.dtype) for w in self.w_qkv[layer])
        pull = self.attn_norm_pullback(layer)

        def folded(parts: list[torch.Tensor], scale: float = 1.0) -> torch.Tensor:
            w = torch.cat(parts, dim=1)
            if pull is not None:
                pull.fold_(w)
            return w.mul_(scale) if scale != 1.0 else w

        if self.group == 1:
            return folded([w_q, w_k, w_v]), None
        return folded([w_q]), folded([w_k, w_v], 1.0 / self.group)

    def qkv_at_norm_zero(self, layer: int) -> list[torch.Tensor]:
        """What each q/k/v module outputs, (n,) in fp32, when the attention norm reads zero: the
        projections' biases, plus a LayerNorm's bias projected (found once per layer)."""
        if layer not in self._at_zero:
            with torch.no_grad():
                zero = torch.zeros(1, 1, self.subject.d_model, dtype=self.w_out[layer].dtype, device=self.w_out[layer].device)
                normed = self.attn_norm[layer](zero)
                self._at_zero[layer] = [first_output(m(normed)).reshape(-1).float() for m in self.proj[layer]]
        return self._at_zero[layer]

    def attn_norm_pullback(self, layer: int) -> NormPullback | None:
        """The attention norm's closed-form VJP, or None where it has none (found once per layer)."""
        if layer not in self._pullbacks:
            self._pullbacks[layer] = norm_pullback(self.attn_norm[layer], self.subject.d_model)
        return self._pullbacks[layer]

    def qkv_outputs(self, layer: int, normed: torch.Tensor) -> list[torch.Tensor]:
        """Per-head normalised inputs (B, T, H, d) -> what each q/k/v projection module outputs, biases included."""
        B, T, H, d = normed.shape
        kv_in = normed.reshape(B, T, H // self.group, self.group, d).mean(3) if self.group > 1 else normed
        parts = [torch.einsum("btnd,ned->btne", x, w).reshape(B, T, -1) for x, w in zip((normed, kv_in, kv_in), self.w_qkv[layer])]
        return self.subject.qkv_module_outputs(layer, parts)


__all__ = ["Layout", "first_output"]
