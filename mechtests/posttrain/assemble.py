"""Rebuild an MDM folder from its ARM and a shipped low-rank delta, without retraining.

The merge is deterministic (see lowrank.py), so the rebuilt weights hash to the sha256 the
training run wrote into its card; `assemble` checks that when given the expected hash.
"""

from __future__ import annotations

from pathlib import Path

from mechtests.errors import MechtestsError
from mechtests.models import load_subject
from mechtests.posttrain.adapter import Adapter
from mechtests.posttrain.folder import load_delta, mdm_block, write_folder
from mechtests.posttrain.masktoken import ensure_mask_token


def assemble(arm_path: str | Path, delta_path: str | Path, out: str | Path, gguf_file: str | None = None,
             expected_sha256: str | None = None) -> str:
    """Write the MDM (ARM + delta) to `out`; returns its weights' sha256."""
    tensors, meta = load_delta(Path(delta_path))
    arm = load_subject(arm_path, gguf_file=gguf_file, kind="arm")
    if arm.weights_sha256 != meta["source"]["sha256"]:
        raise MechtestsError(
            f"the delta {delta_path} was trained on an ARM with sha256 {meta['source']['sha256'][:12]}, "
            f"but {arm_path} has {arm.weights_sha256[:12]}",
            f"pass the ARM it was trained on ({meta['source']['path']}, {meta['source'].get('gguf_file')})",
        )
    mask = ensure_mask_token(arm.model, arm.tokenizer)
    if mask.id != meta["mask_token"]["id"]:
        raise MechtestsError(f"the mask token got id {mask.id}, the delta expects {meta['mask_token']['id']}",
                             "use the ARM's own tokenizer files, unmodified")
    adapter = Adapter(arm.model, mask, rank=int(meta["rank"]), alpha=float(meta["alpha"]))
    try:
        adapter.load_delta(tensors)
    except ValueError as err:
        raise MechtestsError(f"{delta_path} does not fit {arm_path}: {err}", "pass the delta trained on this ARM") from None
    sha = write_folder(adapter.merged_state(), arm.model.config, arm.tokenizer, Path(out), mdm_block(mask.id))
    if expected_sha256 is not None and sha != expected_sha256:
        raise MechtestsError(f"the rebuilt weights hash to {sha[:12]}, the card says {expected_sha256[:12]}",
                             "rebuild with the same torch version and the delta the card names")
    return sha
