"""Write a model as a normal Hugging Face folder, and ship or read the low-rank delta.

transformers refuses `save_pretrained` on a model loaded from GGUF, so the weights are written
with safetensors directly: tensors in name order, a tied output matrix stored once, no
timestamps, hence the same bytes (and sha256) for the same weights.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save, save_file
from torch import nn

from mechtests.errors import MechtestsError

WEIGHTS = "model.safetensors"


def mdm_block(mask_token_id: int) -> dict[str, Any]:
    """config.json's mechtests block of a posttrained MDM: shifted prediction, as the ARM it comes from."""
    return {"kind": "mdm", "mask_token_id": int(mask_token_id), "prediction": "shifted"}


def embedding_name(model: nn.Module) -> str:
    """The state-dict name of the input embedding matrix."""
    return next(f"{path}.weight" for path, m in model.named_modules() if m is model.get_input_embeddings())


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """`model`'s weights by name, float32, in name order; a tied output matrix left out (it is the input embeddings)."""
    state = model.state_dict()
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is not None and head.weight is embed.weight:
        embed_name = embedding_name(model)
        state = {k: v for k, v in state.items() if k == embed_name or v.data_ptr() != embed.weight.data_ptr()}
    return {name: state[name].detach().float().contiguous() for name in sorted(state)}


def weights_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """The model.safetensors bytes of `state` (already float32 and in name order)."""
    return save(state, metadata={"format": "pt"})


def sha256_of(state: dict[str, torch.Tensor]) -> str:
    """The sha256 that mechtests.models.weights_sha256 reports for a folder holding `state`."""
    return hashlib.sha256(weights_bytes(state)).hexdigest()


def write_folder(state: dict[str, torch.Tensor], config: Any, tokenizer: Any, folder: Path, block: dict[str, Any]) -> str:
    """Save weights, config (with the `mechtests` block) and tokenizer to `folder`; returns the weights' sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(config)
    config.mechtests = block
    config.is_causal = block["kind"] == "arm"
    config.dtype = "float32"
    config._attn_implementation = "eager"  # measurements read attention probabilities
    config.save_pretrained(folder)
    data = weights_bytes(state)
    tmp = folder / (WEIGHTS + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, folder / WEIGHTS)
    tokenizer.save_pretrained(folder)
    return hashlib.sha256(data).hexdigest()


def save_delta(tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: Path) -> None:
    """The shippable delta: factors (float16) and mask row, with what they apply to as metadata."""
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: tensors[k].contiguous() for k in sorted(tensors)}, tmp, metadata={"delta": json.dumps(meta)})
    os.replace(tmp, path)


def load_delta(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise MechtestsError(f"no delta at {path}", "pass the delta.safetensors that `mechtests posttrain --rank R` wrote")
    with safe_open(path, "pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("delta", "null") or "null")
        tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    if not isinstance(meta, dict) or "rank" not in meta:
        raise MechtestsError(f"{path} is not a posttrain delta (no metadata)", "pass the delta.safetensors that posttrain wrote")
    return tensors, meta
