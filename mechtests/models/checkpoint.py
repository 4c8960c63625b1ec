"""Checkpoint sanity: a broken folder stops the load with one line naming the file and the fix.

Nothing here trusts the folder: config.json must be a JSON object, every safetensors file must
hold a readable header whose tensors fit the file (a truncated download is caught before
torch reads it), and after loading, transformers' own loading report and the weights
themselves are checked, so that a missing tensor is never silently initialised at random and a
NaN never reaches a verdict.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import torch

from mechtests.errors import MechtestsError

_HEADER_LIMIT = 100 * 1024 * 1024  # safetensors caps its JSON header at 100 MB


def read_config(path: Path) -> dict[str, Any]:
    """config.json as a dict: a one-line error when it is not JSON or not an object."""
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MechtestsError(f"{path} is not valid JSON ({err})", "restore config.json from the checkpoint's source, or re-save it with save_pretrained") from None
    if not isinstance(value, dict):
        raise MechtestsError(f"{path} holds a JSON {type(value).__name__}, not an object", "restore config.json from the checkpoint's source")
    return value


def safetensors_names(path: Path) -> list[str]:
    """The tensor names in one safetensors file, after checking that its header and sizes are whole."""
    return sorted(_tensor_entries(path))


def tensor_shapes(paths: list[Path]) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor in the safetensors files, read from their headers (what a
    model's weights are before loading them: placement, `mechtests plan`)."""
    shapes = {}
    for path in paths:
        for name, entry in _tensor_entries(path).items():
            try:
                shapes[name] = tuple(int(d) for d in entry["shape"])
            except (KeyError, TypeError, ValueError):
                raise MechtestsError(f"{path} is corrupt (tensor {name} has no shape)", "download or save that file again") from None
    return shapes


def tensor_sizes(paths: list[Path]) -> dict[str, int]:
    """name -> element count of every tensor in the safetensors files, from their headers."""
    return {name: math.prod(shape) for name, shape in tensor_shapes(paths).items()}


def _tensor_entries(path: Path) -> dict[str, Any]:
    """The tensor entries of a safetensors header, after checking that the header and sizes are whole."""
    fix = "download or save that file again (save_pretrained writes it whole)"
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise MechtestsError(f"{path} is truncated ({size} bytes, no safetensors header)", fix)
        (n,) = struct.unpack("<Q", head)
        if n > min(_HEADER_LIMIT, size - 8):
            raise MechtestsError(f"{path} is corrupt or truncated (header of {n} bytes in a {size}-byte file)", fix)
        raw = fh.read(n)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MechtestsError(f"{path} is corrupt (its safetensors header is not JSON)", fix) from None
    if not isinstance(header, dict):
        raise MechtestsError(f"{path} is corrupt (its safetensors header is not an object)", fix)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise MechtestsError(f"{path} is corrupt (a tensor entry has no data offsets)", fix) from None
    if 8 + n + end != size:
        raise MechtestsError(f"{path} is truncated or padded: its header needs {8 + n + end} bytes, the file has {size}", fix)
    return tensors


def check_loading_report(info: dict[str, Any], folder: Path, files: list[Path]) -> None:
    """Missing, unexpected or wrongly shaped tensors (transformers' loading info) stop the load."""
    where = ", ".join(p.name for p in files)
    problems = [
        ("misses", sorted(info.get("missing_keys") or ())),
        ("has unexpected", sorted(info.get("unexpected_keys") or ())),
        ("has wrongly shaped", sorted(str(m[0]) if isinstance(m, tuple) else str(m) for m in info.get("mismatched_keys") or ())),
    ]
    for verb, names in problems:
        if names:
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            raise MechtestsError(
                f"{folder / where} {verb} tensors for its config: {names[0]}{more}",
                "check that config.json matches the weights (layer count, sizes), or pass family=/arch= to load_subject "
                "if the weights use another family's names",
            )


def check_finite(model: torch.nn.Module, folder: Path, files: list[Path]) -> None:
    """The first parameter or buffer holding NaN or infinity stops the load."""
    for name, tensor in (*model.named_parameters(), *model.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise MechtestsError(
                f"{folder / files[0].name if len(files) == 1 else folder} holds {bad} non-finite value(s) in {name}",
                "use a checkpoint saved before training diverged, or re-save it in a wider dtype= (float32)",
            )
