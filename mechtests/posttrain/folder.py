"""Write the MDM as a normal Hugging Face folder, and ship or apply the low-rank delta.

transformers refuses `save_pretrained` on a model loaded from GGUF, so the weights are written
with safetensors directly: tensors in name order, a tied output matrix stored once, no
timestamps, hence the same bytes (and sha256) for the same weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from mechtests.errors import MechtestsError
from mechtests.models import weights_sha256

WEIGHTS = "model.safetensors"


def write_folder(model: nn.Module, tokenizer: Any, folder: Path, mask_token_id: int) -> str:
    """Save `model` + `tokenizer` as an MDM folder with the mechtests block; returns the weights' sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config
    config.mechtests = {"kind": "mdm", "mask_token_id": int(mask_token_id), "prediction": "shifted"}
    config.vocab_size = int(model.get_input_embeddings().weight.shape[0])
    config.architectures = [type(model).__name__]
    config.dtype = "float32"
    config.save_pretrained(folder)
    state = model.state_dict()
    if getattr(config, "tie_word_embeddings", False):
        out_name = next(name for name, p in model.named_parameters(remove_duplicate=False)
                        if p is model.get_output_embeddings().weight and not name.endswith("embed_tokens.weight"))
        state.pop(out_name, None)  # tied: stored once, as the input embeddings
    tensors = {name: state[name].detach().float().contiguous() for name in sorted(state)}
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, folder / WEIGHTS)
    tokenizer.save_pretrained(folder)
    return weights_sha256([folder / WEIGHTS])


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
