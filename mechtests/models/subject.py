"""A Subject: one loaded model behind one face, whatever its architecture or kind.

It carries the model, its nnsight wrapper, its tokenizer, what kind of model it is (ARM, or
MDM with a mask token and a prediction convention) and how it is identified in reports (path
and weights sha256). Component accessors return nnsight envoys by standard name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from mechtests._compat import import_nnsight

from mechtests.models.architectures import ArchitectureMap, resolve
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
    def allows_padding(self) -> bool:
        """Whether a batch may mix lengths (right padding with an attention mask). Minimal stand-in
        until the family registry says it per family: every supported family takes a mask today."""
        return True

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __repr__(self) -> str:
        return f"Subject({self.kind}, {self.arch.family}, {self.path!r}, sha256={self.weights_sha256[:12]})"

    # --- sizes -----------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layer_modules())

    @property
    def n_heads(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "num_attention_heads", None) or cfg.n_head)

    @property
    def d_model(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "hidden_size", None) or cfg.n_embd)

    @property
    def d_head(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "head_dim", None) or self.d_model // self.n_heads)

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
        return resolve(self.layer_modules()[layer], f"{self.arch.attention}.{self.arch.out_proj}")  # type: ignore[return-value]

    def unembed_module(self) -> torch.nn.Module:
        return resolve(self.model, self.arch.unembed)  # type: ignore[return-value]

    def final_norm_module(self) -> torch.nn.Module:
        return resolve(self.model, self.arch.final_norm)  # type: ignore[return-value]

    def out_proj_weight(self, layer: int) -> torch.Tensor:
        """The output projection as (n_heads, d_head, d_model): head h writes `z_h @ W[h]`."""
        w = self.out_proj_module(layer).weight
        w = w if self.arch.out_proj_transposed else w.T  # (H * d_head, d_model)
        return w.reshape(self.n_heads, self.d_head, self.d_model)

    def out_proj_bias(self, layer: int) -> torch.Tensor | None:
        return getattr(self.out_proj_module(layer), "bias", None)

    # --- nnsight envoys (inside a trace) ------------------------------------------------
    def layer_envoy(self, layer: int) -> Any:
        return resolve(self.nn, self.arch.layers)[layer]

    def attention_envoy(self, layer: int) -> Any:
        return resolve(self.layer_envoy(layer), self.arch.attention)

    def out_proj_envoy(self, layer: int) -> Any:
        return resolve(self.attention_envoy(layer), self.arch.out_proj)

    def mlp_envoy(self, layer: int) -> Any:
        return resolve(self.layer_envoy(layer), self.arch.mlp)

    def unembed_envoy(self) -> Any:
        return resolve(self.nn, self.arch.unembed)

    def attention_probs(self, layer: int) -> Any:
        """Inside a trace: the layer's attention probabilities (B, H, T, T) (eager attention)."""
        return self.attention_envoy(layer).output[1]

    # --- convenience ---------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of `text` without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
