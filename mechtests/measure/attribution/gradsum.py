"""The sum, over EAP-IG's gradient passes, of the metric's gradient at every downstream node's
input, with each head's share summed where it costs least.

Why: head h's input gradient in one pass is J(x)^T W_h^T g_h, its q/k/v output gradients g_h
pulled back through its slices of the projections and the attention norm's Jacobian at the
layer's input x (one x for every head). Building it for every head in every pass costs a
per-head product the size of the q/k/v projection and several (H, R * T, d) element-wise passes
per layer, k times over. Where the norm's VJP has a closed form (mechtests.measure.attribution.norms),

    J(x)^T v = u - (xhat / d) <u, xhat>,   u = r fold(v),   xhat = centred(x) r,

and for v = W_h^T g_h both terms can be summed over passes before they are expanded per head:
  - Σ_p r_p fold(W_h^T g_h,p) = fold(W_h)^T Σ_p r_p g_h,p: the sum is kept in head space (the
    size of the q/k/v outputs) and projected once, by `result`;
  - <u, xhat> = r <W_h^T g_h, w xhat> = r <g_h, o_h - beta_h>, where o is what the q/k/v
    projections output in that pass and beta their output where the norm reads zero (the
    biases, and a LayerNorm's bias projected): a dot product s_h = <g_h, o_h - beta_h> per head
    and position, so each pass adds one rank-one update (xhat r / d) s_h per head.
Under grouped-query attention a key/value head's share goes 1/group to each head of its group,
as in the per-head forward (mechtests.measure.attribution.layout). A norm without a closed form takes the
per-pass route: per-head products, then its VJP through torch.func. The MLPs' and the logits'
gradients are summed as they come. Every sum is kept in ACCUMULATE, whatever the model's dtype,
node-major: (B, n_down, T, d).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mechtests.measure.attribution.layout import Layout
from mechtests.measure.attribution.norms import generic_vjp

ACCUMULATE = torch.float32  # gradients and edge scores are summed in fp32 whatever the model's dtype (bf16 on GPU)


@dataclass
class PassGradients:
    """What one gradient pass yields (`GraphRun.gradients`), per layer unless said.

    mlp: (R, T, d) at each MLP's input; final: (R, T, d) at the final norm's input.
    heads: (R, T, H, d) at each head's input, where the pass gave every head its own copy (edge
    patching); else None, and qkv / qkv_out hold each q/k/v module's output gradients and outputs
    (one fused, or three), layer_in what the attention norm read (R, T, d).
    """

    mlp: list[torch.Tensor]
    final: torch.Tensor
    heads: list[torch.Tensor] | None = None
    qkv: list[tuple[torch.Tensor, ...]] | None = None
    qkv_out: list[list[torch.Tensor]] | None = None
    layer_in: list[torch.Tensor] | None = None


class GradientSum:
    """Σ over passes of d metric / d (each downstream node's input), for `rows` examples of `T`
    tokens; a pass may hold several interpolation steps of those examples (k * rows rows)."""

    def __init__(self, layout: Layout, rows: int, T: int, device: torch.device) -> None:
        self.lay = layout
        L, H, d = layout.subject.n_layers, layout.subject.n_heads, layout.subject.d_model
        self.total = torch.zeros(rows, len(layout.graph.downstream), T, d, dtype=ACCUMULATE, device=device)  # node-major
        self.heads = self.total[:, : L * (H + 1)].unflatten(1, (L, H + 1))[:, :, :H]  # (B, L, H, T, d), a view
        self.scaled: dict[int, list[torch.Tensor]] = {}  # layer -> Σ r g per q/k/v module output (B, T, n) each
        self.rows = rows
        closed = [l for l in range(L) if layout.attn_norm_pullback(l) is not None]
        self.beta = {l: [b.to(device) for b in layout.qkv_at_norm_zero(l)] for l in closed}  # before any pass: it calls the modules

    @torch.no_grad()  # the recorded q/k/v outputs are part of the pass's graph: nothing here extends it
    def add(self, grads: PassGradients) -> None:
        """One pass's gradients (mechtests.measure.attribution.engine.GraphRun.gradients)."""
        for layer, g in enumerate(grads.mlp):
            self._add(self.total[:, self.lay.graph.down_index(layer)], g)
        self._add(self.total[:, -1], grads.final)
        for layer in range(len(grads.mlp)):
            if grads.heads is not None:  # per-head forward: each head's gradient is at hand
                self._add(self.heads[:, layer], grads.heads[layer].transpose(1, 2))
            elif self.lay.attn_norm_pullback(layer) is None:
                self._add(self.heads[:, layer], self._pulled_back(layer, grads).transpose(1, 2))
            else:
                self._add_closed_form(layer, grads)

    @torch.no_grad()
    def result(self) -> torch.Tensor:
        """(B, n_down, T, d), node-major: the sums, with the head-space sums projected. Call once."""
        for layer, parts in self.scaled.items():
            q, k, v = self._split(layer, parts)  # (B, T, n, dh) each
            w_q, w_kv = self.lay.head_input_weights(layer, like=q)
            if w_kv is None:  # every head its own k and v: one product over [q | k | v]
                self.heads[:, layer] += torch.einsum("bthe,hed->bhtd", torch.cat([q, k, v], -1), w_q)
            else:
                H_kv = w_kv.shape[0]
                heads = self.heads[:, layer].unflatten(1, (H_kv, self.lay.group))  # (B, H_kv, group, T, d)
                heads += torch.einsum("bthe,hed->bhtd", q, w_q).unflatten(1, (H_kv, self.lay.group))
                heads += torch.einsum("bthe,hed->bhtd", torch.cat([k, v], -1), w_kv).unsqueeze(2)  # 1/group folded in
        self.scaled.clear()
        return self.total

    # --- per pass ---------------------------------------------------------------------------
    def _add(self, into: torch.Tensor, g: torch.Tensor) -> None:
        """into (B, ...) += g summed over its steps (k * B rows, step-major); g may sit on another
        device (a model spread over GPUs), the sums sit on the first."""
        g = g.to(into.device)
        if g.shape[0] == self.rows:
            into.add_(g)
        else:
            into.add_(g.reshape(-1, self.rows, *g.shape[1:]).sum(0))

    def _split(self, layer: int, parts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the q/k/v modules output (one fused or three) -> q, k, v as (..., n heads, dh)."""
        if len(parts) == 1:
            parts = list(parts[0].split(self.lay.qkv_rows, dim=-1))
        return tuple(p.unflatten(-1, (-1, self.lay.d_head)) for p in parts)  # type: ignore[return-value]

    def _add_closed_form(self, layer: int, grads: PassGradients) -> None:
        """One pass's share of a layer's heads through the norm's closed form (module docstring):
        r g into the head-space sums, the rank-one correction into the heads' columns."""
        on = self.total.device
        x = grads.layer_in[layer].to(on)  # (R, T, d)
        pull = self.lay.attn_norm_pullback(layer)
        centred, r = pull.stats(x.to(ACCUMULATE))  # (R, T, d), (R, T, 1)
        g_parts = [g.to(on, ACCUMULATE) for g in grads.qkv[layer]]
        sums = self.scaled.setdefault(layer, [torch.zeros(self.rows, *g.shape[1:], dtype=ACCUMULATE, device=g.device) for g in g_parts])
        for into, g in zip(sums, g_parts):
            if g.shape[0] == self.rows:
                into.addcmul_(g, r)
            else:
                self._add(into, g * r)
        products = [(o.to(on, ACCUMULATE) - b).mul_(g) for g, o, b in zip(g_parts, grads.qkv_out[layer], self.beta[layer])]
        q, k, v = self._split(layer, products)  # (R, T, n, dh) each: g_h (o_h - beta_h)
        if self.lay.group == 1:
            s = (q + k).add_(v).sum(-1)  # (R, T, H): <g_h, o_h - beta_h>
        else:
            kv = (k + v).sum(-1).div_(self.lay.group)  # (R, T, H_kv)
            s = (q.sum(-1).unflatten(-1, (-1, self.lay.group)) + kv.unsqueeze(-1)).flatten(-2)
        a = centred * (r.square() / x.shape[-1])  # (R, T, d): xhat r / d
        heads = self.heads[:, layer]  # (B, H, T, d)
        if x.shape[0] == self.rows:
            heads.addcmul_(s.transpose(1, 2).unsqueeze(-1), a.unsqueeze(1), value=-1)
        else:  # several steps per pass: their rank-one updates summed in one product
            steps = x.shape[0] // self.rows
            heads -= torch.einsum("kbth,kbtd->bhtd", s.unflatten(0, (steps, self.rows)), a.unflatten(0, (steps, self.rows)))

    def _pulled_back(self, layer: int, grads: PassGradients) -> torch.Tensor:
        """Each head's input gradient (R, T, H, d) through per-head products and the norm's VJP by torch.func."""
        q, k, v = self._split(layer, list(grads.qkv[layer]))
        w_q, w_k, w_v = self.lay.w_qkv[layer]  # (H, dh, d), (H_kv, dh, d) twice
        u = torch.einsum("bthe,hed->bthd", q, w_q)
        kv = (torch.einsum("bthe,hed->bthd", k, w_k) + torch.einsum("bthe,hed->bthd", v, w_v)) / self.lay.group
        u = (u.unflatten(2, (-1, self.lay.group)) + kv.unsqueeze(3)).flatten(2, 3)
        return generic_vjp(self.lay.attn_norm[layer], grads.layer_in[layer], u)


__all__ = ["ACCUMULATE", "GradientSum"]
