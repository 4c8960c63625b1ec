"""A Subject: one loaded model behind one face, whatever its architecture or kind.

It carries the model, its nnsight wrapper, its tokenizer, what kind of model it is (ARM, or
MDM with a mask token and a prediction convention), its family (how its forward takes a mask,
whether a batch may hold padding) and how it is identified in reports (path and weights
sha256). Component accessors return modules or nnsight envoys by standard name; block
internals (q/k/v layout, grouped-query heads) are answered here from the architecture map, so
that no measurement inspects a block itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from mechtests.models.compat import import_nnsight

from mechtests.errors import MechtestsError
from mechtests.models.architectures import PROBS_FROM_OUTPUT, ArchitectureMap, resolve
from mechtests.models.families import Family
from mechtests.models.shape import ConfigShape
from mechtests.models.spec import ModelSpec

NNsight = import_nnsight().NNsight


@dataclass(eq=False)
class Subject:
    """A model under test. Build with `mechtests.load_subject`, not directly."""

    model: torch.nn.Module
    tokenizer: Any
    spec: ModelSpec
    arch: ArchitectureMap
    weights_sha256: str
    family: Family
    direction: str = "unmeasured"  # "causal" or "bidirectional", measured at load
    nn: NNsight = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.nn = NNsight(self.model)

    # --- identity and kind -------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.spec.path

    @property
    def kind(self) -> str:
        return str(self.spec.kind)

    @property
    def is_mdm(self) -> bool:
        return self.spec.kind == "mdm"

    @property
    def mask_token_id(self) -> int | None:
        return self.spec.mask_token_id

    @property
    def prediction(self) -> str:
        return str(self.spec.prediction)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __repr__(self) -> str:
        return f"Subject({self.kind}, {self.family.name}, {self.path!r}, sha256={self.weights_sha256[:12]})"

    # --- how the model takes its input ------------------------------------------------------
    @property
    def allows_padding(self) -> bool:
        """False for families whose forward takes no attention mask (LLaDA): batch equal lengths."""
        return self.family.allows_padding

    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> dict[str, Any]:
        """Keyword arguments for the model's forward: ids (B, T) and a (B, T) 0/1 mask in the family's form.

        MDMs get the mask that makes their family attend bidirectionally; padded keys (mask 0)
        are never attended to. A family that takes no mask refuses a batch with padding.
        """
        form = str(self.spec.attention)
        padded = attention_mask is not None and not bool(attention_mask.bool().all())
        if form in ("config-flag", "causal"):
            return {"input_ids": input_ids, "attention_mask": attention_mask}
        if form == "none":
            if padded:
                raise MechtestsError(
                    f"{self.path} ({self.family.name}) takes no attention mask, but the batch holds padding",
                    "batch examples of equal length for this model (Subject.allows_padding is False)",
                )
            return {"input_ids": input_ids}
        keys = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).bool()  # (B, T)
        allowed = keys[:, None, None, :].expand(-1, 1, input_ids.shape[1], -1)  # (B, 1, T, T)
        if form == "full-or-bool":
            if not padded:
                return {"input_ids": input_ids, "attention_mask": "full"}
            positions = (keys.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
            return {"input_ids": input_ids, "attention_mask": allowed, "position_ids": positions}
        dtype = next(self.model.parameters()).dtype  # additive-mask
        additive = torch.zeros(allowed.shape, dtype=dtype, device=input_ids.device)
        return {"input_ids": input_ids, "attention_mask": additive.masked_fill(~allowed, torch.finfo(dtype).min)}

    # --- sizes -----------------------------------------------------------------------
    @property
    def config_shape(self) -> ConfigShape:
        """The sizes its config declares (mechtests.models.shape: one reader for every family's spelling)."""
        return ConfigShape.of(self.model.config)

    @property
    def n_layers(self) -> int:
        return len(self.layer_modules())

    @property
    def n_heads(self) -> int:
        return self.config_shape.need("n_heads")

    @property
    def n_kv_heads(self) -> int:
        """Key/value heads: fewer than n_heads under grouped-query attention."""
        return self.config_shape.need("n_kv_heads")

    @property
    def d_model(self) -> int:
        return self.config_shape.need("d_model")

    @property
    def d_mlp(self) -> int:
        """The MLP's hidden width (4 * d_model where the config does not say)."""
        return self.config_shape.need("d_mlp")

    @property
    def d_head(self) -> int:
        return self.config_shape.need("d_head")

    @property
    def vocab_size(self) -> int:
        return int(self.unembed_module().weight.shape[0])

    def head_slice(self, head: int) -> slice:
        """Columns of the out-projection input that belong to one head."""
        return slice(head * self.d_head, (head + 1) * self.d_head)

    # --- plain modules (outside a trace) ----------------------------------------------
    def layer_modules(self) -> torch.nn.ModuleList:
        return resolve(self.model, self.arch.layers)  # type: ignore[return-value]

    def out_proj_module(self, layer: int) -> torch.nn.Module:
        return resolve(self.layer_modules()[layer], self.arch.out_proj)  # type: ignore[return-value]

    def block_module(self, layer: int, role: str) -> torch.nn.Module:
        """A block's module by its role in the map: attention, mlp, attn_norm, mlp_norm."""
        return resolve(self.layer_modules()[layer], getattr(self.arch, role))  # type: ignore[return-value]

    def embed_module(self) -> torch.nn.Module:
        return resolve(self.model, self.arch.embed)  # type: ignore[return-value]

    def qkv_modules(self, layer: int) -> list[torch.nn.Module]:
        """The q/k/v projection modules of a block, as declared (three, or one fused)."""
        block = self.layer_modules()[layer]
        return [resolve(block, path) for path in self.arch.qkv]  # type: ignore[misc]

    def qkv_rows(self) -> tuple[int, int, int]:
        """Output sizes of q, k and v: the fused split, by default from the head counts."""
        return self.arch.qkv_split or (self.n_heads * self.d_head, self.n_kv_heads * self.d_head, self.n_kv_heads * self.d_head)

    def qkv_weights(self, layer: int) -> list[torch.Tensor]:
        """q, k, v weights per head: (n_heads, d_head, d_model), then (n_kv_heads, d_head, d_model) twice."""
        mods = self.qkv_modules(layer)
        if self.arch.qkv_layout == "separate":
            rows = [m.weight for m in mods]  # (n * dh, d) each
        else:
            w = mods[0].weight.T if self.arch.weights_transposed else mods[0].weight  # (q + k + v rows, d)
            rows = list(w.split(self.qkv_rows(), dim=0))
        return [r.reshape(-1, self.d_head, self.d_model) for r in rows]

    def qkv_module_outputs(self, layer: int, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """What each declared q/k/v module returns, from q, k, v outputs (B, T, n * d_head) without bias."""
        mods = self.qkv_modules(layer)
        if self.arch.qkv_layout != "separate":
            parts = [torch.cat(parts, dim=-1)]
        return [p + m.bias if getattr(m, "bias", None) is not None else p for p, m in zip(parts, mods)]

    def unembed_module(self) -> torch.nn.Module:
        return resolve(self.model, self.arch.unembed)  # type: ignore[return-value]

    def final_norm_module(self) -> torch.nn.Module:
        return resolve(self.model, self.arch.final_norm)  # type: ignore[return-value]

    def out_proj_weight(self, layer: int) -> torch.Tensor:
        """The output projection as (n_heads, d_head, d_model): head h writes `z_h @ W[h]`."""
        w = self.out_proj_module(layer).weight
        w = w if self.arch.weights_transposed else w.T  # (H * d_head, d_model)
        return w.reshape(self.n_heads, self.d_head, self.d_model)

    # --- nnsight envoys (inside a trace) ------------------------------------------------
    def layer_envoy(self, layer: int) -> Any:
        return resolve(self.nn, self.arch.layers)[layer]

    def attention_envoy(self, layer: int) -> Any:
        return resolve(self.layer_envoy(layer), self.arch.attention)

    def out_proj_envoy(self, layer: int) -> Any:
        return resolve(self.layer_envoy(layer), self.arch.out_proj)

    def mlp_envoy(self, layer: int) -> Any:
        return resolve(self.layer_envoy(layer), self.arch.mlp)

    def unembed_envoy(self) -> Any:
        return resolve(self.nn, self.arch.unembed)

    def attention_probs(self, layer: int) -> Any:
        """Inside a trace: the layer's attention probabilities (B, H, T, T) (eager attention).

        A family that never materialises them (the map's `probs` names the module returning
        the rotated query and key) has them recomputed: softmax(q k^T / sqrt(d_head)), with
        grouped key heads repeated; such families take no mask (see model_inputs).
        """
        if self.arch.probs == PROBS_FROM_OUTPUT:
            return self.attention_envoy(layer).output[1]
        q, k = resolve(self.layer_envoy(layer), self.arch.probs).output  # (B, H, T, dh), (B, H_kv, T, dh)
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
        return torch.softmax((q @ k.transpose(-1, -2)).float() / self.d_head**0.5, dim=-1).to(q.dtype)

    # --- convenience ---------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of `text` without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
