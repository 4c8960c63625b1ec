"""The model being adapted: an ARM with a mask token, optionally a low-rank delta, run bidirectionally.

It exposes the two things the recipe needs: hidden states for a (possibly partly causal)
attention mask, and logits at chosen positions only (the unembedding is the costliest matmul of
a small model; a masked-token loss needs it at the masked positions alone). In low-rank mode the
mask token's embedding row is the one full-rank parameter trained besides the factors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mechtests.posttrain import lowrank
from mechtests.posttrain.folder import embedding_name, model_state
from mechtests.posttrain.masktoken import MaskToken


class Adapter(nn.Module):
    """`model` (a transformers causal LM) made bidirectional, with its trainable parameters chosen."""

    def __init__(self, model: nn.Module, mask: MaskToken, rank: int = 0, alpha: float = 16.0, seed: int = 0) -> None:
        super().__init__()
        self.model = model
        self.mask = mask
        self.rank = rank
        self.alpha = alpha
        model.config.is_causal = False  # transformers 5 reads this flag: no causal mask unless we pass one
        self.tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
        if rank > 0:
            self.targets = lowrank.attach(model, rank, alpha, seed)
            self.mask_row = nn.Parameter(model.get_input_embeddings().weight[mask.id].detach().clone())  # (d,)
        else:
            self.targets = []
            self.mask_row = None
            for p in model.parameters():
                p.requires_grad_(True)

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    def embedding_matrix(self) -> torch.Tensor:
        """(V, d) input embeddings, with the trained mask row in low-rank mode."""
        weight = self.model.get_input_embeddings().weight
        if self.mask_row is None:
            return weight
        i = self.mask.id
        return torch.cat([weight[:i], self.mask_row[None], weight[i + 1:]])

    def hidden(self, ids: torch.Tensor, attention: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, d) final hidden states; `attention` (B, 1, T, T) bool, True = may attend; None = all."""
        embeds = F.embedding(ids.to(self.device), self.embedding_matrix())  # (B, T, d)
        return self.model.base_model(inputs_embeds=embeds, attention_mask=attention).last_hidden_state

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., V) logits of the given hidden states."""
        head = self.model.get_output_embeddings()
        weight = self.embedding_matrix() if self.tied else head.weight
        return F.linear(hidden, weight, getattr(head, "bias", None))

    def logits_of(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T, V) logits with full bidirectional attention."""
        return self.logits(self.hidden(ids))

    def trainable(self) -> dict[str, nn.Parameter]:
        return {name: p for name, p in self.named_parameters() if p.requires_grad}

    def delta(self) -> dict[str, torch.Tensor]:
        """The low-rank delta as shipped, on the CPU: factors in float16, the mask row in float32."""
        tensors = {name: t.half().cpu() for name, t in lowrank.factors(self.model).items()}
        tensors["mask_row"] = self.mask_row.detach().float().cpu().clone()  # type: ignore[union-attr]
        return tensors

    def load_delta(self, tensors: dict[str, torch.Tensor]) -> None:
        """Set the factors and the mask row from a shipped delta (float16 factors widen exactly)."""
        params = dict(self.model.named_parameters())
        expected = set(lowrank.factors(self.model)) | {"mask_row"}
        if set(tensors) != expected:
            missing, extra = sorted(expected - set(tensors))[:3], sorted(set(tensors) - expected)[:3]
            raise ValueError(f"delta does not fit this model (missing {missing}, unexpected {extra})")
        with torch.no_grad():
            for name, value in tensors.items():
                target = self.mask_row if name == "mask_row" else params[name]
                if target.shape != value.shape:
                    raise ValueError(f"delta tensor {name} has shape {tuple(value.shape)}, expected {tuple(target.shape)}")
                target.copy_(value.float())

    def merged_state(self) -> dict[str, torch.Tensor]:
        """The weights of the plain model with the delta merged, by the model's own names, float32, name order.

        Factors are rounded to float16 first, exactly as the shipped delta holds them, so the weights
        written here and the ones an assembler rebuilds from the delta are the same bytes (the merge
        runs on the CPU, wherever the model trained). A tied output matrix is left out (it is the
        input embeddings). The Adapter is not modified.
        """
        state = {name: t.cpu() for name, t in model_state(self.model).items()}
        if self.rank > 0:
            delta = self.delta()
            for path, module in self.model.named_modules():
                if isinstance(module, lowrank.LowRankLinear):
                    a, b = delta[f"{path}.lora_A"].float(), delta[f"{path}.lora_B"].float()
                    state[f"{path}.weight"] = lowrank.merged_weight(state.pop(f"{path}.base.weight"), a, b, module.scale)
                    if f"{path}.base.bias" in state:
                        state[f"{path}.bias"] = state.pop(f"{path}.base.bias")
                    state.pop(f"{path}.lora_A"), state.pop(f"{path}.lora_B")
            embed_name = embedding_name(self.model)
            state[embed_name] = state[embed_name].clone()
            state[embed_name][self.mask.id] = delta["mask_row"]
        return {name: state[name].float().contiguous() for name in sorted(state)}
