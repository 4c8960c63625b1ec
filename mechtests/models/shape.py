"""A model's sizes from its config, whatever its family calls them: the one reader of config shapes.

Families spell the same size differently: transformers' Llama, Qwen2 and Mistral configs (and
Dream's) say num_hidden_layers, num_attention_heads, num_key_value_heads, hidden_size,
intermediate_size; GPT-2 (DiffuGPT) says n_layer, n_head, n_embd, n_inner; LLaDA's own config
says n_layers, n_heads, n_kv_heads, d_model, mlp_hidden_size. Reading one spelling misreads the
others (a LLaDA pair compared on num_hidden_layers compares None with None), so the Subject, the
load checks, the pair consistency check and the planner all read sizes here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from mechtests.errors import MechtestsError

# Each size's config names, in the order they are tried (transformers', GPT-2's, LLaDA's).
SIZE_NAMES: dict[str, tuple[str, ...]] = {
    "n_layers": ("num_hidden_layers", "n_layer", "n_layers"),
    "n_heads": ("num_attention_heads", "n_head", "n_heads"),
    "n_kv_heads": ("num_key_value_heads", "n_kv_heads"),
    "d_model": ("hidden_size", "n_embd", "d_model"),
    "d_mlp": ("intermediate_size", "n_inner", "mlp_hidden_size"),
    "d_head": ("head_dim",),
    "vocab": ("vocab_size",),
}


@dataclass(frozen=True)
class ConfigShape:
    """The sizes a config declares; None where it declares none. The sizes a family leaves
    implicit are filled in: key/value heads = heads (no grouped-query attention), MLP width =
    4 * d_model, head size = d_model / heads."""

    n_layers: int | None
    n_heads: int | None
    n_kv_heads: int | None
    d_model: int | None
    d_mlp: int | None
    d_head: int | None
    vocab: int | None

    @classmethod
    def of(cls, config: Any) -> "ConfigShape":
        """Read from a transformers config (the sizes as attributes) or a parsed config.json (a dict)."""
        sizes = {size: _first(config, names) for size, names in SIZE_NAMES.items()}
        heads, d = sizes["n_heads"], sizes["d_model"]
        sizes["n_kv_heads"] = sizes["n_kv_heads"] or heads
        sizes["d_mlp"] = sizes["d_mlp"] or (4 * d if d else None)
        sizes["d_head"] = sizes["d_head"] or (d // heads if d and heads else None)
        return cls(**sizes)

    def need(self, size: str) -> int:
        """A size the caller cannot do without, or a one-line error naming the config keys to set."""
        value = getattr(self, size)
        if value is None:
            raise MechtestsError(f"the model's config sets none of {', '.join(SIZE_NAMES[size])}",
                                 f"set one of them in config.json (the model's {size})")
        return value


def _first(config: Any, names: tuple[str, ...]) -> int | None:
    read = config.get if isinstance(config, Mapping) else lambda name: getattr(config, name, None)
    value = next((v for n in names if (v := read(n)) is not None), None)
    return None if value is None else int(value)
