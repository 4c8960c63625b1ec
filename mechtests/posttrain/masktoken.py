"""The MDM's mask token: the tokenizer's own if it has one, else a new one.

A new token gets an embedding row equal to the mean of all existing rows (computed in float64):
it starts as "an average token", carries no one word's meaning, and is not far from where the
model's inputs live, which is the usual choice when a vocabulary grows (transformers'
`resize_token_embeddings(mean_resizing=True)` samples around the same mean). With tied
embeddings the same row is its output logit vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

NEW_MASK_TOKEN = "<|mask|>"


@dataclass(frozen=True)
class MaskToken:
    """The mask token's id and whether we added it (the card says which)."""

    id: int
    text: str
    added: bool


def ensure_mask_token(model: nn.Module, tokenizer: Any) -> MaskToken:
    """Give `tokenizer` and `model` a mask token, growing the vocabulary by one row if needed."""
    if tokenizer.mask_token_id is not None:
        return MaskToken(int(tokenizer.mask_token_id), str(tokenizer.mask_token), added=False)
    tokenizer.add_special_tokens({"mask_token": NEW_MASK_TOKEN})
    new_id = int(tokenizer.mask_token_id)
    grow_vocabulary(model, new_id + 1)
    return MaskToken(new_id, NEW_MASK_TOKEN, added=True)


def grow_vocabulary(model: nn.Module, size: int) -> None:
    """Resize input (and untied output) embeddings to `size` rows; new rows are the mean of the old ones."""
    embed = model.get_input_embeddings()
    old = embed.weight.shape[0]
    if size <= old:
        return
    tied = model.get_output_embeddings() is not None and model.get_output_embeddings().weight is embed.weight
    model.resize_token_embeddings(size, mean_resizing=False)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[old:] = emb[:old].double().mean(0).float()
        out = model.get_output_embeddings()
        if not tied and out is not None:
            out.weight[old:] = out.weight[:old].double().mean(0).float()
    if tied:
        model.tie_weights()
