"""Forward passes over the graph with plain torch hooks: capture node outputs, give each head its
own input (edge patching), and collect the gradient at every downstream node's input.

Why torch hooks and not nnsight here: EAP-IG needs gradients at ~n_layers * (n_heads + 1)
intermediate tensors for k interpolation steps, and edge patching needs each head of a layer
to read a different residual stream. Both are a few lines of autograd around the model's own
modules, and cost only what the model costs (see BENCHMARKS.md). Node-level interventions go
through nnsight (mechtests.interventions).

How a head gets its own input without re-implementing attention: heads of layer l all read
x = resid_pre(l) through the attention norm and the q/k/v projections. The hooks give the
layer a per-head copy x_h (B, T, H, d) of its input (x_h = x - delta_h under edge patching),
normalise each copy, and recompute each head's slices of the q/k/v outputs from its own copy
(W[h] norm(x_h) + b[h]); the rest of attention runs unchanged. The gradient at x_h is then the
gradient at head h's input, and one autograd call yields every node's. Under grouped-query
attention a key/value head is shared by its group: it reads the mean of the group's normalised
inputs, so each head of the group gets 1/group of its gradient. MLP inputs are read the same
way through an identity node in front of the MLP's norm, so their gradient excludes the skip
path.

A gradient pass without edge patching gives every head the same input, so it need not build
the copies: `_SharedInputQKV` normalises and projects x once (the model's own cost) and, in the
backward only, turns the q/k/v output gradients into each head's gradient at its input, the
same numbers as through per-head copies (tests/families: every family stand-in, 1e-5).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch

from mechtests.attribution.graph import graph_for
from mechtests.attribution.norms import NormPullback, generic_vjp, norm_pullback
from mechtests.errors import MechtestsError

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


class Layout:
    """Weights and module handles of one subject, read once per measurement (the block's layout
    comes from the Subject, which asks its architecture map)."""

    def __init__(self, subject: "Subject") -> None:
        if subject.arch.parallel:
            raise MechtestsError(
                f"edge attribution on {subject.path}: its map declares parallel blocks, and the graph assumes "
                "each MLP reads the stream after its layer's attention",
                "use node-level measurements (mechtests.interventions) on this model",
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
        self._pullbacks: dict[int, NormPullback | None] = {}
        self._workspaces: dict[str, torch.Tensor] = {}

    def head_input_weights(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What turns the q/k/v output gradients of each head into a gradient at its normalised
        input, folded through the attention norm's weight where its VJP has a closed form
        (mechtests.attribution.norms): [W_q | W_k | W_v] per head (H, 3 dh, d) when every head
        has its own key and value, else W_q (H, dh, d) and [W_k | W_v] / group per key/value
        head (H_kv, 2 dh, d). Built in scratch memory at each use (one layer's worth held, not
        every layer's: on SmolLM2 all layers' would be 66 MB)."""
        w_q, w_k, w_v = self.w_qkv[layer]
        pull = self.attn_norm_pullback(layer)

        def folded(name: str, parts: list[torch.Tensor], scale: float = 1.0) -> torch.Tensor:
            shape = (parts[0].shape[0], sum(p.shape[1] for p in parts), parts[0].shape[2])
            w = torch.cat(parts, dim=1, out=self.workspace(name, shape, like))
            if pull is not None:
                pull.fold_(w)
            return w.mul_(scale) if scale != 1.0 else w

        if self.group == 1:
            return folded("w_qkv", [w_q, w_k, w_v]), None
        return folded("w_q", [w_q]), folded("w_kv", [w_k, w_v], 1.0 / self.group)

    def workspace(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A scratch tensor kept across the layers and passes of one measurement (a fresh one per
        use costs page faults: on CPU, freshly mapped memory is slower to write than the
        arithmetic on it)."""
        held = self._workspaces.get(name)
        if held is None or held.shape != shape or held.dtype != like.dtype or held.device != like.device:
            held = self._workspaces[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return held

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


class _SharedInputQKV(torch.autograd.Function):
    """q/k/v module outputs of a layer whose heads all read the same input x (a gradient pass
    without edge patching): the forward normalises x and projects it once, as
    the model would; the backward gives each head the gradient of its own slices, as if it had
    read its own copy: W_q[h]^T g_q[h] + (W_k[kv]^T g_k[kv] + W_v[kv]^T g_v[kv]) / group, pulled
    back through the norm's Jacobian at x (shared by all heads; mechtests.attribution.norms)."""

    @staticmethod
    def forward(x: torch.Tensor, heads: "_HeadGradients", layer: int) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        lay = heads.lay
        normed = lay.attn_norm[layer](x)  # (B, T, d)
        d = normed.shape[-1]
        parts = [torch.nn.functional.linear(normed, w.reshape(-1, d)) for w in lay.w_qkv[layer]]
        return tuple(lay.subject.qkv_module_outputs(layer, parts))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x, ctx.heads, ctx.layer = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:  # type: ignore[override]
        """Hands each head's gradient (B, T, H, d) on (`_HeadGradients`), returns their sum: the gradient at x."""
        (x,) = ctx.saved_tensors
        layer = ctx.layer
        lay = ctx.heads.lay
        if len(grads) == 1:  # one fused projection: split its gradient into q, k, v
            grads = grads[0].split(lay.subject.qkv_rows(), dim=-1)
        B, T, d = x.shape
        H = lay.subject.n_heads
        pull = lay.attn_norm_pullback(layer)
        rows = x.reshape(B * T, d)
        stats = None if pull is None else pull.stats(rows)  # r (B * T, 1) scales the q/k/v gradients: the weights are folded
        w_q, w_kv = lay.head_input_weights(layer, x)

        def per_head(parts: list[torch.Tensor], n: int, name: str) -> torch.Tensor:
            """q/k/v output gradients (B, T, n * dh) each -> (n, B * T, sum of dh), scaled by r."""
            views = [g.reshape(B * T, n, -1).transpose(0, 1) for g in parts]
            if len(views) == 1 and stats is None:
                return views[0]
            out = lay.workspace(name, (n, B * T, sum(v.shape[-1] for v in views)), x)
            if len(views) == 1:
                return torch.mul(views[0], stats[1], out=out)
            torch.cat(views, -1, out=out)
            return out if stats is None else out.mul_(stats[1])

        g_in = lay.workspace("heads", (H, B * T, d), x)  # reused layer after layer: no fresh pages per layer
        if w_kv is None:  # every head its own k and v: one batched product over [q | k | v]
            torch.bmm(per_head(list(grads), H, "g_qkv"), w_q, out=g_in)
        else:
            H_kv = w_kv.shape[0]
            torch.bmm(per_head([grads[0]], H, "g_q"), w_q, out=g_in)
            g_kv = torch.bmm(per_head(list(grads[1:]), H_kv, "g_kv"), w_kv, out=lay.workspace("kv", (H_kv, B * T, d), x))
            g_in.view(H_kv, lay.group, B * T, d).add_(g_kv.unsqueeze(1))  # 1/group folded into w_kv
        if pull is not None:
            pull.correct_(rows, g_in, lay.workspace("product", (H, B * T, d), x), stats)
            heads = g_in.view(H, B, T, d).permute(1, 2, 0, 3)  # (B, T, H, d)
        else:
            heads = generic_vjp(lay.attn_norm[layer], x, g_in.view(H, B, T, d).permute(1, 2, 0, 3))
        ctx.heads.take(layer, heads)
        return heads.sum(2), None, None


class _HeadGradients:
    """Where a gradient pass's backward puts each layer's head gradients (B, T, H, d), valid only
    during the call (scratch memory): handed to `sink`, or else copied into `kept` by first
    column. It holds no tensor of the forward pass, so the autograd graph that refers to it
    keeps none of the run's alive."""

    def __init__(self, layout: Layout) -> None:
        self.lay = layout
        self.sink: Callable[[int, torch.Tensor], None] | None = None
        self.kept: dict[int, torch.Tensor] = {}

    def take(self, layer: int, grads: torch.Tensor) -> None:
        column = self.lay.graph.down_index(layer, 0)
        if self.sink is not None:
            self.sink(column, grads)
        else:
            self.kept[column] = grads.clone()


_OWN = object()  # marks a module whose forward was its class's (no instance attribute to restore)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, tuple) else value


class GraphRun:
    """One forward pass with hooks; use as a context manager around `model(...)`.

    embed: (B, T, d) replaces the residual stream entering layer 0 (IG interpolation).
    reference, drop: edge patching. reference (B or 1, T, n_up, d) upstream activations to patch
    in; drop (n_up, n_down) or (B, n_up, n_down) bool, the edges whose upstream value is replaced
    by the reference at the downstream node's input.
    record_grads: keep the tensors needed by `downstream_grads`.
    capture_up: keep upstream outputs (skip it in gradient-only passes: it costs an extra matmul per layer).
    After the pass, `up` holds every upstream node's output (B, T, n_up, d).
    """

    def __init__(
        self,
        layout: Layout,
        embed: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
        drop: torch.Tensor | None = None,
        record_grads: bool = False,
        capture_up: bool = True,
    ) -> None:
        self.lay, self.embed, self.reference, self.record = layout, embed, reference, record_grads
        self.capture_up = capture_up or drop is not None  # patching needs the upstream outputs
        self.drop = None if drop is None else (drop & layout.graph.edge_mask).to(torch.float32)
        self._up: list[torch.Tensor] = []  # chunks (B, T, n, d) in upstream order
        self._diff: list[torch.Tensor] = []
        self.head_in: list[torch.Tensor] = []  # per layer (B, T, H, d): what each head reads (edge patching)
        self.layer_in: list[torch.Tensor] = []  # per layer (B, T, d): what every head reads (gradient passes)
        self._heads = _HeadGradients(layout)
        self.x_mid: list[torch.Tensor] = []  # per layer (B, T, d): what the MLP's norm reads
        self.final_in: torch.Tensor | None = None
        self._qkv_new: list[torch.Tensor] | None = None
        self._handles: list[Any] = []
        self._forwards: list[tuple[torch.nn.Module, Any]] = []  # replaced q/k/v forwards, restored on exit

    # --- bookkeeping ------------------------------------------------------------------------
    @property
    def up(self) -> torch.Tensor:
        return torch.cat(self._up, dim=2)  # (B, T, n_up, d)

    @property
    def stream_in(self) -> torch.Tensor:
        """The residual stream entering layer 0, (B, T, d)."""
        return self._up[0][:, :, 0]

    def up_difference(self, rows: int, dtype: torch.dtype) -> torch.Tensor:
        """Upstream outputs of the first `rows` rows minus those of the next `rows` (a pass over a
        clean and a corrupted batch stacked): (rows, T, n_up, d) in `dtype`, written chunk by
        chunk into one tensor while the captured chunks are released, so that neither the
        concatenated outputs of both batches nor a second copy of the difference is ever held.
        The run's upstream outputs are gone afterwards."""
        first = self._up[0]
        out = torch.empty(rows, first.shape[1], sum(u.shape[2] for u in self._up), first.shape[3], dtype=dtype, device=first.device)
        column = 0
        while self._up:
            u = self._up.pop(0)
            torch.sub(u[:rows].to(dtype), u[rows:].to(dtype), out=out[:, :, column : column + u.shape[2]])
            column += u.shape[2]
            del u
        return out

    def _add_up(self, acts: torch.Tensor) -> None:  # acts (B, T, n, d)
        if not self.capture_up:
            return
        start = sum(u.shape[2] for u in self._up)
        self._up.append(acts)
        if self.drop is not None:
            ref = self.reference[:, :, start : start + acts.shape[2]]  # type: ignore[index]
            self._diff.append(acts - ref)

    def _delta(self, columns: slice) -> torch.Tensor:
        """Sum of dropped upstream differences at the given downstream inputs: (B, T, n_cols, d)."""
        diff = torch.cat(self._diff, dim=2)  # (B, T, n_so_far, d)
        drop = self.drop[..., : diff.shape[2], columns]  # type: ignore[index]
        if drop.ndim == 2:
            return torch.einsum("btud,uv->btvd", diff, drop)
        return torch.einsum("btud,buv->btvd", diff, drop)

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
                    x_heads = x.unsqueeze(2).expand(-1, -1, g.n_heads, -1)  # (B, T, H, d)
                    x_heads = x_heads - self._delta(slice(g.down_index(layer, 0), g.down_index(layer, 0) + g.n_heads))
                    self.head_in.append(x_heads)
                    self._qkv_new = self.lay.qkv_outputs(layer, self.lay.attn_norm[layer](x_heads))
                else:  # every head reads x: project once, split the gradient per head in the backward
                    self.layer_in.append(x)
                    self._qkv_new = list(_SharedInputQKV.apply(x, self._heads, layer))
            if layer == 0 and self.embed is not None:
                if rest[0] == "args":
                    return (x, *rest[1]), kwargs
                return args, {**kwargs, "hidden_states": x}
            return None

        return hook

    def _qkv(self, layer: int, index: int, module: torch.nn.Module):
        """A stand-in forward for a q/k/v projection: the per-head outputs when we computed them,
        else the module's own forward (skipping the projection whose result would be discarded)."""
        own = module.forward

        def forward(*args: Any, **kwargs: Any) -> torch.Tensor:
            return self._qkv_new[index] if self._qkv_new is not None else own(*args, **kwargs)

        return forward

    def _out_proj_pre(self, layer: int):
        def hook(module, args):
            z = args[0]  # (B, T, H * dh)
            z = z.reshape(*z.shape[:-1], self.lay.subject.n_heads, -1)  # (B, T, H, dh)
            self._add_up(torch.einsum("btne,ned->btnd", z, self.lay.w_out[layer]))

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
            return module.forward(self.x_mid[-1] - self._delta(slice(col, col + 1))[:, :, 0])  # no hooks: no recursion

        return hook

    def _mlp_out(self, layer: int):
        def hook(module, args, output):
            self._add_up(_first(output).unsqueeze(2))

        return hook

    def _final_pre(self, module, args):
        x = args[0]
        if self.drop is not None:
            x = x - self._delta(slice(-1, None))[:, :, 0]
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
            if self.capture_up:  # a gradient-only pass leaves these modules hook-free (hooks cost Python time per call)
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
    def downstream_grads(self, objective: torch.Tensor, heads_to: Callable[[int, torch.Tensor], None] | None = None) -> list[tuple[int, torch.Tensor]]:
        """d objective / d (each downstream node's input), through that node only, as (first
        column, gradient (B, T, n, d)) pieces in downstream order: heads of a layer, its MLP, ...,
        the logits. Pieces, not one tensor: a caller that sums them needs no concatenated copy.
        heads_to: in a gradient pass without edge patching, called with each layer's head piece
        during the backward (valid only during the call) instead of returning it: nothing then
        holds every layer's head gradients at once."""
        n = len(self.lay.layers)
        shared = not self.head_in
        self._heads.sink = heads_to if shared else None
        wrt = [*self.x_mid, self.final_in, self.layer_in[0]] if shared else [*self.head_in, *self.x_mid, self.final_in]
        grads = torch.autograd.grad(objective, wrt)  # with shared inputs, layer 0's input: every layer's backward runs
        heads = [self._heads.kept.pop(self.lay.graph.down_index(l, 0)) for l in range(n)] if shared and heads_to is None else grads[:n]
        mlps, final = (grads[:n], grads[n]) if shared else (grads[n : 2 * n], grads[-1])
        pieces = []
        for l in range(n):
            if not (shared and heads_to is not None):
                pieces.append((self.lay.graph.down_index(l, 0), heads[l]))
            pieces.append((self.lay.graph.down_index(l), mlps[l].unsqueeze(2)))  # heads (B, T, H, d), MLP (B, T, 1, d)
        pieces.append((self.lay.graph.down_index(n, 0), final.unsqueeze(2)))  # the final norm reads the stream alone
        return pieces


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


def capture(layout: Layout, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Every upstream node's output (B, T, n_up, d), no grad."""
    with torch.no_grad(), GraphRun(layout) as run:
        layout.subject.model(**layout.subject.model_inputs(input_ids, attention_mask))
    return run.up


def patched_logits(
    layout: Layout, input_ids: torch.Tensor, attention_mask: torch.Tensor, reference: torch.Tensor, drop: torch.Tensor
) -> torch.Tensor:
    """Logits (B, T, V) with the dropped edges reading `reference` upstream values."""
    with torch.no_grad(), GraphRun(layout, reference=reference, drop=drop):
        return layout.subject.model(**layout.subject.model_inputs(input_ids, attention_mask)).logits


__all__ = ["GraphRun", "Layout", "capture", "frozen_weights", "patched_logits"]
