"""The plan's models and its cost model: a checkpoint read without its weights, and the seconds,
passes and peak memory of a measurement's rows on it.

The cost model: FLOPs per row about 2 x the parameters that multiply per token plus attention
(QK and AV); a forward+backward row costs 1 + BACKWARD_PER_FORWARD forwards (the weights are
frozen, attribution.engine.frozen_weights, so the backward computes input gradients only, one
matmul per weight where training computes two); an edge-patched row PATCHED_ROW_FORWARDS (each
head computes from its own mix of upstream outputs: bench/edge_patching.py measures 1.68x a
plain forward on the bundled ARM and 2.01x on SmolLM2's 30 layers, one thread). FLOPs become seconds at MATMUL_SHARE of the
matmul throughput kept for this machine (mechtests.run.throughput), plus PASS_OVERHEAD_S per
layer per pass (Python, hooks and kernel launches, which dominate small models). Both constants
are documented guesses checked against cold runs (BENCHMARKS.md, bench/bench_plan.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mechtests.commands.plan_work import Work, passes
from mechtests.models import load_subject
from mechtests.models.checkpoint import tensor_shapes
from mechtests.models.identity import weights_sha256
from mechtests.models.loading import resolve_checkpoint
from mechtests.run import batching, cache

BACKWARD_PER_FORWARD = 1.0  # an input-gradient-only backward: one matmul per weight matmul of the forward
MATMUL_SHARE = 1.0  # share of the kept matmul throughput a whole pass achieves (fitted: BENCHMARKS.md, "mechtests plan per hypothesis")
PATCHED_ROW_FORWARDS = 2.0  # an edge-patched row, in plain forward rows (BENCHMARKS.md, "edge patching in place")
PASS_OVERHEAD_S = {"cpu": 4e-4, "cuda": 1.5e-4}  # per layer and pass: Python, hooks, kernel launches


@dataclass
class ModelFacts:
    """One model of the pair as the plan sees it, without its weights loaded."""

    role: str
    path: str
    identity: cache.ModelIdentity
    shape: batching.ModelShape
    n_params: int
    matmul_params: int  # parameters that multiply every token: all but the input embedding, the output head counted once tied or not
    tokenizer: Any
    allows_padding: bool


def read_model(role: str, paths: Any, device: torch.device, dtype: str) -> ModelFacts:
    """A safetensors folder is read without loading it: kind and family as load_subject decides
    them, shape from config.json (mechtests.models.shape), parameter count from the safetensors
    headers, identity from the weights' sha256 (kept once per file version). Anything else (a GGUF
    file, whose shapes live in its quantized tensors) is loaded."""
    folder, options = Path(paths.path(role)), paths.load_options(role)
    torch_dtype = getattr(torch, dtype)
    element = torch.finfo(torch_dtype).bits // 8
    if "gguf_file" in options or not sorted(folder.glob("*.safetensors")):
        subject = load_subject(folder, **options)
        n_params = sum(p.numel() for p in subject.model.parameters())  # a tied head's weight counted once, as the embedding
        embed, head = subject.model.get_input_embeddings().weight, subject.model.get_output_embeddings()
        matmul = n_params if head is not None and head.weight is embed else n_params - embed.numel()  # a tied head multiplies too
        identity = cache.ModelIdentity(subject.weights_sha256, subject.kind, subject.mask_token_id, subject.prediction, torch_dtype, device)
        shape = batching.ModelShape.from_config(subject.model.config, element, subject.n_layers, subject.vocab_size)
        return ModelFacts(role, str(folder), identity, shape, n_params, matmul, subject.tokenizer, subject.allows_padding)
    checkpoint = resolve_checkpoint(folder, **options)
    spec = checkpoint.spec
    shapes = tensor_shapes(checkpoint.weights)
    sizes = {name: math.prod(dims) for name, dims in shapes.items()}
    n_params = sum(sizes.values())
    embed = sum(count for name, count in sizes.items() if "embed_tokens" in name or name.endswith("wte.weight"))
    identity = cache.ModelIdentity(weights_sha256(checkpoint.weights), str(spec.kind), spec.mask_token_id, str(spec.prediction),
                                   torch_dtype, device)
    shape = batching.ModelShape.from_config(checkpoint.raw, element)
    tables = sum(1 for dims in shapes.values() if sorted(dims) == sorted((shape.vocab, shape.d_model)))
    matmul = n_params if tables == 1 else n_params - embed  # one vocab x d table: the head is tied to the embedding and multiplies too
    return ModelFacts(role, str(folder), identity, shape, n_params, matmul, checkpoint.tokenizer, checkpoint.family.allows_padding)


def forward_flops(model: ModelFacts, seq_len: int) -> float:
    """FLOPs of one row's forward pass: 2 per multiplying parameter per token, plus attention (QK and AV)."""
    return seq_len * (2 * model.matmul_params + 4 * model.shape.n_layers * seq_len * model.shape.d_model)


@dataclass(frozen=True)
class Cost:
    passes: int
    seconds: float
    peak_bytes: int


def cost(work: Work, model: ModelFacts, device: torch.device, memory: int, flops_per_s: float, first: bool = False) -> Cost:
    """Passes, seconds and peak memory of a Work's rows on `model` (zero for a cached one)."""
    if work.cached:
        return Cost(0, 0.0, 0)
    shape, n_passes, flops, peak = model.shape, 0, 0.0, 0
    for runs in work.first if first else work.full:
        per_row = batching.row_bytes(shape, work.seq_len, grad=runs.grad, per_head_inputs=runs.per_head)
        per_pass = batching.rows_within(memory, per_row, device)
        n_passes += passes(runs, per_pass)
        forwards = PATCHED_ROW_FORWARDS if runs.patched else 1 + (BACKWARD_PER_FORWARD if runs.grad else 0)
        flops += forward_flops(model, work.seq_len) * runs.rows * runs.calls * forwards
        peak = max(peak, min(runs.rows, per_pass) * per_row)
    seconds = flops / (MATMUL_SHARE * flops_per_s) + n_passes * shape.n_layers * PASS_OVERHEAD_S.get(device.type, PASS_OVERHEAD_S["cuda"])
    return Cost(n_passes, seconds, model.n_params * shape.element_bytes + peak)


__all__ = ["BACKWARD_PER_FORWARD", "Cost", "MATMUL_SHARE", "PATCHED_ROW_FORWARDS", "ModelFacts", "PASS_OVERHEAD_S", "cost", "forward_flops", "read_model"]
