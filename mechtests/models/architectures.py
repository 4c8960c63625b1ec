"""Where each supported transformers architecture keeps its standard components.

One documented map per family, so that the rest of the project names components the same way
for every model (embed, layer l, attention l, the per-head input of the output projection,
mlp l, final norm, unembedding) and never branches on the architecture itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from mechtests.errors import MechtestsError


@dataclass(frozen=True)
class ArchitectureMap:
    """Module paths of the standard components, relative to the causal-LM model.

    layers: the ModuleList of decoder blocks.
    attention / mlp: paths inside one block.
    out_proj: the attention's output projection, inside `attention`; its input is the
        concatenation of the heads' outputs, (B, T, n_heads * d_head).
    out_proj_transposed: the projection stores its weight as (in, out) (GPT-2's Conv1D)
        rather than (out, in) (nn.Linear).
    attn_norm / mlp_norm: the norms before attention and before the MLP, inside one block.
    qkv: the query, key and value projections inside `attention` (one fused module for GPT-2);
        edge attribution gives every head its own copy of their input.
    """

    family: str
    layers: str
    attention: str
    out_proj: str
    mlp: str
    final_norm: str
    unembed: str
    attn_norm: str
    mlp_norm: str
    qkv: tuple[str, ...]
    out_proj_transposed: bool = False


_LLAMA_LIKE = dict(
    layers="model.layers",
    attention="self_attn",
    out_proj="o_proj",
    mlp="mlp",
    final_norm="model.norm",
    unembed="lm_head",
    attn_norm="input_layernorm",
    mlp_norm="post_attention_layernorm",
    qkv=("q_proj", "k_proj", "v_proj"),
)

ARCHITECTURES: dict[str, ArchitectureMap] = {
    "llama": ArchitectureMap(family="llama", **_LLAMA_LIKE),
    "qwen2": ArchitectureMap(family="qwen2", **_LLAMA_LIKE),
    "mistral": ArchitectureMap(family="mistral", **_LLAMA_LIKE),
    "gpt2": ArchitectureMap(
        family="gpt2",
        layers="transformer.h",
        attention="attn",
        out_proj="c_proj",
        mlp="mlp",
        final_norm="transformer.ln_f",
        unembed="lm_head",
        attn_norm="ln_1",
        mlp_norm="ln_2",
        qkv=("c_attn",),
        out_proj_transposed=True,
    ),
}


def architecture_for(model_type: str, path: str) -> ArchitectureMap:
    """The component map of a config's model_type, or a one-line error listing the supported ones."""
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise MechtestsError(
            f"unsupported architecture {model_type!r} in {path}",
            f"mechtests supports {sorted(ARCHITECTURES)}; add an ArchitectureMap for it to "
            "mechtests.models.architectures.ARCHITECTURES",
        ) from None


def resolve(root: object, dotted: str) -> object:
    """Follow a dotted module path ('model.layers') from `root`; raise AttributeError naming the gap."""
    node = root
    for part in dotted.split("."):
        if not hasattr(node, part):
            raise AttributeError(f"{type(node).__name__} has no '{part}' (looking for '{dotted}')")
        node = getattr(node, part)
    return node
