"""Where each supported module tree keeps its standard components, and how its blocks are built.

The architecture map is the one place that knows a block's internals: the q/k/v layout
(separate Linear projections, one fused Linear with its row split, or GPT-2's Conv1D), the
norms, sequential or parallel blocks, grouped-query attention (from the config's head counts)
and how attention probabilities are read. The rest of the project asks the Subject, which asks
the map; a wrong entry fails at load on shapes (see mechtests.models.validate), never later as
wrong numbers. Users may pass their own entry: `load_subject(..., arch=ArchitectureMap(...))`
or the same fields as a dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from mechtests.errors import MechtestsError

QKV_LAYOUTS = ("separate", "fused", "conv1d")
PROBS_FROM_OUTPUT = "output"  # the attention module returns (output, probabilities, ...)


@dataclass(frozen=True)
class ArchitectureMap:
    """Module paths of the standard components and the block's declared layout.

    Paths marked (model) are relative to the loaded model; all others to one decoder block.
    tree: the name of this module tree, shown in errors and by `mechtests inspect`.
    layers (model): the ModuleList of decoder blocks. embed, final_norm, unembed (model).
    qkv: the query, key and value projections: three modules for `separate`, one for `fused`
        (a Linear whose output rows are q, k, v; `qkv_split` gives their sizes, by default
        n_heads*d_head, n_kv_heads*d_head, n_kv_heads*d_head) and for `conv1d` (GPT-2: weight
        stored (in, out), the output projection too).
    out_proj: the attention's output projection; its input is the heads' outputs side by
        side, (B, T, n_heads * d_head).
    attention: the module whose output (first element if a tuple) is the attention's
        contribution to the residual stream.
    mlp: the module whose output is the MLP's contribution to the residual stream.
    attn_norm / mlp_norm: the norms whose outputs feed the attention and the MLP.
    probs: where attention probabilities (B, H, T, T) come from: "output" (the attention
        module returns them second, under eager attention), or the path of the module that
        returns the rotated (query, key), each (B, heads, T, d_head), from which they are
        recomputed (a model that never materialises them, e.g. LLaDA's fused SDPA call).
    parallel: attention and MLP both read the block's input (GPT-J, NeoX) instead of the MLP
        reading the stream after attention.
    """

    tree: str
    layers: str
    qkv: tuple[str, ...]
    out_proj: str
    attention: str
    mlp: str
    attn_norm: str
    mlp_norm: str
    embed: str
    final_norm: str
    unembed: str
    qkv_layout: str = "separate"
    qkv_split: tuple[int, int, int] | None = None
    probs: str = PROBS_FROM_OUTPUT
    parallel: bool = False

    def __post_init__(self) -> None:
        if self.qkv_layout not in QKV_LAYOUTS:
            raise MechtestsError(f"architecture map {self.tree!r} has qkv_layout={self.qkv_layout!r}", f"use one of {QKV_LAYOUTS}")
        wanted = 3 if self.qkv_layout == "separate" else 1
        if len(self.qkv) != wanted:
            raise MechtestsError(
                f"architecture map {self.tree!r} declares qkv_layout={self.qkv_layout!r} with {len(self.qkv)} projections",
                f"list {wanted} module path(s) in qkv for that layout",
            )

    @property
    def weights_transposed(self) -> bool:
        """Conv1D stores weights as (in, out); nn.Linear as (out, in)."""
        return self.qkv_layout == "conv1d"


def map_from(value: ArchitectureMap | Mapping[str, Any]) -> ArchitectureMap:
    """A user's map: an ArchitectureMap, or a dict of its fields (as a pair's pyproject table holds)."""
    if isinstance(value, ArchitectureMap):
        return value
    if not isinstance(value, Mapping):
        raise MechtestsError(f"arch= got a {type(value).__name__}", "pass a mechtests.models.ArchitectureMap or a dict of its fields")
    names = {f.name for f in dataclasses.fields(ArchitectureMap)}
    unknown = sorted(set(value) - names)
    missing = sorted(f.name for f in dataclasses.fields(ArchitectureMap) if f.default is dataclasses.MISSING and f.name not in value)
    if unknown or missing:
        raise MechtestsError(
            f"arch= has unknown fields {unknown} and lacks {missing}", f"give the fields of mechtests.models.ArchitectureMap: {sorted(names)}"
        )
    fields = dict(value)
    fields["qkv"] = tuple(fields["qkv"])
    if fields.get("qkv_split") is not None:
        fields["qkv_split"] = tuple(int(n) for n in fields["qkv_split"])
    return ArchitectureMap(**fields)


LLAMA_TREE = ArchitectureMap(
    tree="llama",
    layers="model.layers",
    qkv=("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    out_proj="self_attn.o_proj",
    attention="self_attn",
    mlp="mlp",
    attn_norm="input_layernorm",
    mlp_norm="post_attention_layernorm",
    embed="model.embed_tokens",
    final_norm="model.norm",
    unembed="lm_head",
)

GPT2_TREE = ArchitectureMap(
    tree="gpt2",
    layers="transformer.h",
    qkv=("attn.c_attn",),
    qkv_layout="conv1d",
    out_proj="attn.c_proj",
    attention="attn",
    mlp="mlp",
    attn_norm="ln_1",
    mlp_norm="ln_2",
    embed="transformer.wte",
    final_norm="transformer.ln_f",
    unembed="lm_head",
)

_LLADA_COMMON = dict(
    layers="model.transformer.blocks",
    out_proj="attn_out",
    attention="attn_out",
    mlp="ff_out",
    attn_norm="attn_norm",
    mlp_norm="ff_norm",
    embed="model.transformer.wte",
    final_norm="model.transformer.ln_f",
    unembed="model.transformer.ff_out",
    probs="rotary_emb",
)
LLADA_TREE = ArchitectureMap(tree="llada", qkv=("q_proj", "k_proj", "v_proj"), **_LLADA_COMMON)
LLADA_FUSED_TREE = ArchitectureMap(tree="llada-fused", qkv=("att_proj",), qkv_layout="fused", **_LLADA_COMMON)


def resolve(root: object, dotted: str) -> object:
    """Follow a dotted module path ('model.layers') from `root`; raise AttributeError naming the gap."""
    node = root
    for part in dotted.split("."):
        if not hasattr(node, part):
            raise AttributeError(f"{type(node).__name__} has no '{part}' (looking for '{dotted}')")
        node = getattr(node, part)
    return node
