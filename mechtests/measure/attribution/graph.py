"""The computational graph that attribution and circuits share: embedding -> heads, MLPs -> logits.

Upstream nodes write into the residual stream: `embed` (the stream entering layer 0), every
attention head `a{l}.h{h}` (its slice of the output projection, z_h @ W_O[h]) and every MLP
`m{l}`. Downstream nodes read from it: every head (its query, key and value inputs together,
one input per head), every MLP and the `logits` (the final norm's input). An edge u -> v
exists when u writes before v reads: embed feeds everything; a head of layer l feeds the MLP
of layer l and everything in later layers; an MLP of layer l feeds later layers and the logits.

Edge scores live in an (n_up, n_down) matrix; `edge_mask` marks the entries that are edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch


@dataclass(frozen=True)
class Graph:
    n_layers: int
    n_heads: int

    # --- node names and indices ---------------------------------------------------------
    @cached_property
    def upstream(self) -> list[str]:
        names = ["embed"]
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}" for h in range(self.n_heads)] + [f"m{layer}"]
        return names

    @cached_property
    def downstream(self) -> list[str]:
        names = []
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}" for h in range(self.n_heads)] + [f"m{layer}"]
        return names + ["logits"]

    @property
    def nodes(self) -> list[str]:
        """Every node once, in forward order."""
        return self.upstream + ["logits"]

    def down_index(self, layer: int, head: int | None = None) -> int:
        """Column of head (layer, head), or of MLP `layer` when head is None."""
        return layer * (self.n_heads + 1) + (self.n_heads if head is None else head)

    @cached_property
    def up_stage(self) -> torch.Tensor:
        """Forward stage at which each upstream node writes: embed -1, heads of l 2l, MLP l 2l+1."""
        stages = [-1]
        for layer in range(self.n_layers):
            stages += [2 * layer] * self.n_heads + [2 * layer + 1]
        return torch.tensor(stages)

    @cached_property
    def down_stage(self) -> torch.Tensor:
        """Stage at which each downstream node reads: heads of l 2l, MLP l 2l+1, logits 2L."""
        stages = []
        for layer in range(self.n_layers):
            stages += [2 * layer] * self.n_heads + [2 * layer + 1]
        return torch.tensor(stages + [2 * self.n_layers])

    @cached_property
    def edge_mask(self) -> torch.Tensor:
        """(n_up, n_down) bool: which entries are edges."""
        return self.up_stage[:, None] < self.down_stage[None, :]

    @property
    def n_edges(self) -> int:
        return int(self.edge_mask.sum())

    def edges(self, mask: torch.Tensor | None = None) -> list[tuple[str, str]]:
        """(upstream, downstream) names of the edges in `mask` (default: all), row-major."""
        mask = self.edge_mask if mask is None else mask & self.edge_mask
        ups, downs = mask.nonzero(as_tuple=True)
        return [(self.upstream[u], self.downstream[d]) for u, d in zip(ups.tolist(), downs.tolist())]


def graph_for(subject) -> Graph:
    return Graph(subject.n_layers, subject.n_heads)
