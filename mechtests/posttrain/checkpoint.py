"""Resumable training state in one safetensors file, written atomically (tmp file, then rename).

It holds the trainable parameters in float32, AdamW's moments and the progress (step, curves,
seconds spent) as JSON metadata, so a stopped run resumes exactly where it was: same data
order, same masks (both derive from the seed and the step), same optimizer state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from mechtests.errors import MechtestsError


def save_state(path: Path, params: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer,
               progress: dict[str, Any]) -> None:
    """Write parameters, optimizer moments and `progress` (JSON-able) to `path` atomically."""
    tensors = {f"param/{name}": p.detach().float().cpu().contiguous() for name, p in params.items()}
    names = {id(p): name for name, p in params.items()}
    steps = {}
    for p, state in optimizer.state.items():
        name = names[id(p)]
        tensors[f"exp_avg/{name}"] = state["exp_avg"].cpu().contiguous()
        tensors[f"exp_avg_sq/{name}"] = state["exp_avg_sq"].cpu().contiguous()
        steps[name] = float(state["step"])
    meta = {"progress": json.dumps(progress), "optimizer_steps": json.dumps(steps)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, path)


def load_state(path: Path, params: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore what save_state wrote into `params` and `optimizer`; returns the progress dict."""
    try:
        with safe_open(path, "pt") as fh:
            meta = fh.metadata()
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except (OSError, SafetensorError) as err:
        raise MechtestsError(f"cannot read the checkpoint {path}: {err}", "delete it to start over, or restore a copy") from None
    saved = {key.split("/", 1)[1] for key in tensors if key.startswith("param/")}
    if saved != set(params):
        raise MechtestsError(f"the checkpoint {path} holds other parameters than this run trains",
                             "resume with the same --rank and model, or use a fresh --out folder")
    steps = json.loads(meta["optimizer_steps"])
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[f"param/{name}"])
            if name in steps:
                optimizer.state[p] = {"step": torch.tensor(steps[name]), "exp_avg": tensors[f"exp_avg/{name}"].to(p.device),
                                      "exp_avg_sq": tensors[f"exp_avg_sq/{name}"].to(p.device)}
    return json.loads(meta["progress"])
