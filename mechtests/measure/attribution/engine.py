"""Forward passes over the graph with plain torch hooks: capture node outputs, give each head its
own input (edge patching), and collect the gradient at every downstream node's input.

Why torch hooks and not nnsight here: EAP-IG needs gradients at ~n_layers * (n_heads + 1)
intermediate tensors for k interpolation steps, and edge patching needs each head of a layer
to read a different residual stream. Both are a few lines of autograd around the model's own
modules, and cost only what the model costs (see BENCHMARKS.md). Node-level interventions go
through nnsight (mechtests.measure.interventions).

How a head gets its own input without re-implementing attention: the hooks give layer l a
per-head copy x_h (B, T, H, d) of its input (x_h = x - delta_h under edge patching), and each
head's slices of the q/k/v outputs are recomputed from its own copy
(mechtests.measure.attribution.layout); the rest of attention runs unchanged. The gradient at
x_h is then the gradient at head h's input, and one autograd call yields every node's. MLP
inputs are read the same way through an identity node in front of the MLP's norm, so their
gradient excludes the skip path.

A gradient pass without edge patching gives every head the same input, so it need not build
the copies: the model runs as it is, and the pass records what each layer's attention norm read
and what its q/k/v projections output, with their gradients; mechtests.measure.attribution.gradsum turns
those into each head's gradient at its input, the same numbers as through per-head copies
(tests/families: every family stand-in, 1e-5).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from mechtests.measure.attribution.gradsum import PassGradients
from mechtests.measure.attribution.layout import Layout, first_output


@dataclass
class _HeadWrites:
    """What a layer's heads write into the stream, kept as their out-projection input z
    (B, T, H, dh) until it is asked for: H * dh floats per position instead of H * d."""

    z: torch.Tensor
    w_out: torch.Tensor  # (H, dh, d)

    def written(self, z: torch.Tensor | None = None, layout: str = "btnd") -> torch.Tensor:
        """Each head's z_h @ W_O[h] for z (default: the captured one), (B, T, H, d) or as `layout` says."""
        z = self.z if z is None else z
        return torch.einsum(f"btne,ned->{layout}", z, self.w_out.to(z.dtype))


def _width(captured: "torch.Tensor | _HeadWrites") -> int:
    """How many upstream nodes a captured chunk holds."""
    return captured.z.shape[2] if isinstance(captured, _HeadWrites) else captured.shape[2]


_OWN = object()  # marks a module whose forward was its class's (no instance attribute to restore)


class GraphRun:
    """One forward pass with hooks; use as a context manager around `model(...)`.

    embed: (B, T, d) replaces the residual stream entering layer 0 (IG interpolation).
    reference, drop: edge patching. reference (r, T, n_up, d) upstream activations to patch in,
    row i of the batch reading reference row i mod r (r = B, 1, or a block of rows the batch
    repeats, as several circuits of the same examples do: the reference is not copied per block);
    drop (n_up, n_down) or (B, n_up, n_down) bool, the edges whose upstream value is replaced by
    the reference at the downstream node's input.
    record_grads: keep the tensors needed by `gradients`.
    capture_up: keep upstream outputs (skip it in gradient-only passes, where its hooks cost Python
    time per call, and in patched passes nobody reads them after: on 30 layers they are 35 MB a row).
    After the pass, `up` holds every upstream node's output (B, T, n_up, d).
    """

    def __init__(self, layout: Layout, embed: torch.Tensor | None = None, reference: torch.Tensor | None = None,
                 drop: torch.Tensor | None = None, record_grads: bool = False, capture_up: bool = True) -> None:
        self.lay, self.embed, self.reference, self.record = layout, embed, reference, record_grads
        self.keep_up = capture_up
        self.drop = None if drop is None else (drop & layout.graph.edge_mask).to(torch.float32)
        self._up: list[torch.Tensor | _HeadWrites] = []  # chunks (B, T, n, d), or heads to project, in upstream order
        self._diff: torch.Tensor | None = None  # edge patching: (B, n_up, T, d), upstream output - reference, node-major
        self._filled = 0  # upstream nodes whose difference is in _diff
        self._mlp_early: tuple[torch.Tensor, int] | None = None  # the MLP's mix of earlier nodes, and how many
        self.head_in: list[torch.Tensor] = []  # per layer (B, T, H, d): what each head reads (edge patching with gradients)
        self.layer_in: list[torch.Tensor] = []  # per layer (B, T, d): what every head reads (gradient passes)
        self.qkv_out: list[list[torch.Tensor]] = [[] for _ in layout.layers]  # per layer: what each q/k/v module output (gradient passes)
        self.x_mid: list[torch.Tensor] = []  # per layer (B, T, d): what the MLP's norm reads
        self.final_in: torch.Tensor | None = None
        self._qkv_new: list[torch.Tensor] | None = None
        self._handles: list[Any] = []
        self._forwards: list[tuple[torch.nn.Module, Any]] = []  # replaced q/k/v forwards, restored on exit

    # --- bookkeeping ------------------------------------------------------------------------
    @property
    def up(self) -> torch.Tensor:
        return torch.cat([u.written() if isinstance(u, _HeadWrites) else u for u in self._up], dim=2)  # (B, T, n_up, d)

    @property
    def stream_in(self) -> torch.Tensor:
        """The residual stream entering layer 0, (B, T, d)."""
        return self._up[0][:, :, 0]

    def up_difference(self, rows: int, dtype: torch.dtype) -> torch.Tensor:
        """Upstream outputs of the first `rows` rows minus those of the next `rows` (a pass over a
        clean and a corrupted batch stacked): (rows, n_up, T, d) in `dtype`, node-major (each
        node's (T, d) block contiguous, as the edge products read it), written chunk by chunk
        into one tensor while the captured chunks are released, so that neither the outputs of
        both batches nor a second copy of the difference is ever held. A layer's heads are
        differenced before their out-projection (one product over `rows` rows, not two). The
        run's upstream outputs are gone afterwards."""
        first = self._up[0]
        width = sum(_width(u) for u in self._up)
        out = torch.empty(rows, width, first.shape[1], first.shape[3], dtype=dtype, device=first.device)
        column = 0
        while self._up:
            u = self._up.pop(0)
            if isinstance(u, _HeadWrites):
                diff = u.written(u.z[:rows].to(dtype) - u.z[rows:].to(dtype), "bntd")
            else:
                diff = (u[:rows].to(dtype) - u[rows:].to(dtype)).transpose(1, 2)
            out[:, column : column + _width(u)].copy_(diff)
            column += _width(u)
            del u, diff
        return out

    def _add_up(self, acts: torch.Tensor) -> None:  # acts (B, T, n, d)
        if self.keep_up:
            self._up.append(acts)
        if self.drop is not None:
            B, T, n, d = acts.shape
            if self._diff is None:
                self._diff = acts.new_empty(B, len(self.lay.graph.upstream), T, d)
            start, self._filled = self._filled, self._filled + n
            ref = self.reference[:, :, start : self._filled]  # type: ignore[index]
            diff = acts.unflatten(0, (B // ref.shape[0], ref.shape[0])) - ref  # blocks of r rows against the r reference rows
            self._diff[:, start : self._filled].copy_(diff.flatten(0, 1).transpose(1, 2))

    def _delta(self, columns: slice, start: int = 0) -> torch.Tensor:
        """Sum of the dropped differences of upstream nodes start.. at the given downstream inputs,
        (B, n_cols, T, d): one matrix product over the differences, read in place (a growing
        concatenation made edge patching on 30 layers 11x a forward; BENCHMARKS.md, "edge
        patching in place"). Reading them bounds it, so a layer's heads and MLP share one read
        (the MLP's mix of earlier nodes taken with the heads', its own layer's heads added later)."""
        diff = self._diff[:, start : self._filled]  # type: ignore[index]
        drop = self.drop[..., start : self._filled, columns].transpose(-1, -2)  # type: ignore[index]  # (n_cols, u) or (B, n_cols, u)
        return torch.matmul(drop, diff.flatten(2)).unflatten(2, diff.shape[2:])

    # --- hooks --------------------------------------------------------------------------------
    def _layer_pre(self, layer: int):
        def hook(module, args, kwargs):
            if args:
                x, rest = args[0], ("args", args[1:])
            else:
                x, rest = kwargs["hidden_states"], ("kwargs", None)
            if layer == 0:
                if self.embed is not None:
                    x = self.embed
                self._add_up(x.unsqueeze(2))
            if self.drop is not None or self.record:
                g = self.lay.graph
                if self.drop is not None:
                    first = g.down_index(layer, 0)
                    delta = self._delta(slice(first, g.down_index(layer) + 1))  # the heads' columns, then the MLP's
                    self._mlp_early = delta[:, g.n_heads], self._filled  # the MLP's mix of the nodes before this layer
                    x_heads = (x.unsqueeze(1) - delta[:, : g.n_heads]).transpose(1, 2)  # (B, T, H, d)
                    if self.record:  # kept for the gradient at each head's input; else freed with the layer
                        self.head_in.append(x_heads)
                    self._qkv_new = self.lay.qkv_outputs(layer, self.lay.attn_norm[layer](x_heads))
                else:  # every head reads x: the model projects it once; its outputs are recorded (`_qkv`)
                    self.layer_in.append(x)
            if layer == 0 and self.embed is not None:
                if rest[0] == "args":
                    return (x, *rest[1]), kwargs
                return args, {**kwargs, "hidden_states": x}
            return None

        return hook

    def _qkv(self, layer: int, index: int, module: torch.nn.Module):
        """A stand-in forward for a q/k/v projection: the per-head outputs when we computed them
        (skipping the projection whose result would be discarded), else the module's own forward,
        its output recorded in a gradient pass."""
        own = module.forward
        shared = self.record and self.drop is None

        def forward(*args: Any, **kwargs: Any) -> torch.Tensor:
            if self._qkv_new is not None:
                return self._qkv_new[index]
            out = own(*args, **kwargs)
            if shared:
                self.qkv_out[layer].append(out)
            return out

        return forward

    def _out_proj_pre(self, layer: int):
        def hook(module, args):
            z = args[0]  # (B, T, H * dh)
            z = z.reshape(*z.shape[:-1], self.lay.n_heads, -1)  # (B, T, H, dh)
            if self.drop is None:  # nothing reads them during the pass: projected when asked for
                self._up.append(_HeadWrites(z, self.lay.w_out[layer]))
            else:
                self._add_up(_HeadWrites(z, self.lay.w_out[layer]).written())

        return hook

    def _mlp_norm_pre(self, layer: int):
        def hook(module, args):
            x = args[0].view_as(args[0]) if self.record else args[0]  # own node: gradient through the norm only
            self.x_mid.append(x)
            return (x, *args[1:]) if self.record else None

        return hook

    def _mlp_norm_out(self, layer: int):
        """Under edge patching the MLP reads norm(x - delta): replace the norm's output, whatever reads it."""
        def hook(module, args, output):
            col = self.lay.graph.down_index(layer)
            early, since = self._mlp_early
            return module.forward(self.x_mid[-1] - early - self._delta(slice(col, col + 1), since)[:, 0])  # no hooks: no recursion

        return hook

    def _mlp_out(self, layer: int):
        def hook(module, args, output):
            self._add_up(first_output(output).unsqueeze(2))

        return hook

    def _final_pre(self, module, args):
        x = args[0]
        if self.drop is not None:
            x = x - self._delta(slice(-1, None))[:, 0]
        self.final_in = x
        return (x, *args[1:]) if self.drop is not None else None

    def __enter__(self) -> "GraphRun":
        lay = self.lay
        reg = self._handles.append
        for l, layer in enumerate(lay.layers):
            reg(layer.register_forward_pre_hook(self._layer_pre(l), with_kwargs=True))
            for i, proj in enumerate(lay.proj[l]):
                self._forwards.append((proj, proj.__dict__.get("forward", _OWN)))
                proj.forward = self._qkv(l, i, proj)
            if self.keep_up or self.drop is not None:  # patching reads upstream outputs; gradient-only passes skip these hooks
                reg(lay.subject.out_proj_module(l).register_forward_pre_hook(self._out_proj_pre(l)))
                reg(lay.mlp[l].register_forward_hook(self._mlp_out(l)))
            reg(lay.mlp_norm[l].register_forward_pre_hook(self._mlp_norm_pre(l)))
            if self.drop is not None:
                reg(lay.mlp_norm[l].register_forward_hook(self._mlp_norm_out(l)))
        reg(lay.subject.final_norm_module().register_forward_pre_hook(self._final_pre))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for module, forward in self._forwards:
            if forward is _OWN:
                del module.forward
            else:
                module.forward = forward
        self._forwards.clear()

    # --- gradients ------------------------------------------------------------------------------
    def gradients(self, objective: torch.Tensor) -> PassGradients:
        """d objective / d (each downstream node's input, through that node only), in one autograd
        call: at each head's own input under edge patching, else at what every q/k/v module
        output (mechtests.measure.attribution.gradsum turns those into the heads' input gradients)."""
        n = len(self.lay.layers)
        if self.head_in:
            grads = torch.autograd.grad(objective, [*self.head_in, *self.x_mid, self.final_in])
            return PassGradients(mlp=list(grads[n : 2 * n]), final=grads[-1], heads=list(grads[:n]))
        outs = [o for layer in self.qkv_out for o in layer]
        grads = torch.autograd.grad(objective, [*self.x_mid, self.final_in, *outs])
        per_layer, at = [], n + 1
        for layer in self.qkv_out:
            per_layer.append(grads[at : at + len(layer)])
            at += len(layer)
        return PassGradients(mlp=list(grads[:n]), final=grads[n], qkv=per_layer, qkv_out=self.qkv_out, layer_in=self.layer_in)


@contextlib.contextmanager
def frozen_weights(model: torch.nn.Module) -> Iterator[None]:
    """No parameter takes a gradient inside (restored after): autograd then keeps only what the
    input gradients need, not every layer's input for a weight gradient nobody reads."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


__all__ = ["GraphRun", "frozen_weights"]
