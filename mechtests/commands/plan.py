"""`mechtests plan`: what a run of the suites will cost, before it starts.

    mechtests plan                                  # the default pair (pyproject.toml)
    mechtests plan --pair smollm2 --mech-device cuda --mech-max-memory 60GiB
    mechtests plan --arm PATH --mdm PATH --mech-budget paper --json

For each model and task: the shared measurements the suites rely on (whether each model answers
each candidate correctly, and the EAP-IG attribution on the common-correct pool, or on the
model's own correct examples in a one-model run; they are most of a cold run's time), with the
sizes and steps of the run budget (mechtests.run.budget), whether each is already in the disk cache, and an estimate of the rows
through the model (forward, and forward+backward), the passes, the time and the peak memory on
the chosen device. Nothing is run but one small matmul: the models' shapes come from their
configs and safetensors headers, the cache keys from their weights' sha256 and tokenizers.

The cost model (FLOPs per token about 2 x the parameters that multiply, plus attention; EAP-IG: a
clean+corrupted pass, then `steps` forward+backward passes per example, whose backward costs one
forward, BACKWARD_PER_FORWARD: the weights are frozen (attribution.engine.frozen_weights), so it
computes input gradients only, one matmul per weight where training computes two) turns FLOPs
into seconds with the matmul throughput of this device, measured at run time on a matmul of the
model's width (`--threads` as the run will use), times MATMUL_SHARE, plus
PASS_OVERHEAD_S per layer per pass (Python and kernel-launch costs that dominate small models).
Both constants are documented guesses to be checked against cold runs (BENCHMARKS.md); ablations,
detectors and the robustness variants are not counted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mechtests.commands.project import add_pair_arguments, add_seed_argument, options_given, settings_for
from mechtests.errors import MechtestsError
from mechtests.models import load_subject, placement
from mechtests.models.checkpoint import tensor_sizes
from mechtests.models.identity import weights_sha256
from mechtests.models.loading import resolve_checkpoint
from mechtests.run import batching, cache
from mechtests.run import budget as run_budget
from mechtests.run.command_line import add_options
from mechtests.tasks import TaskSet

BACKWARD_PER_FORWARD = 1.0  # an input-gradient-only backward: one matmul per weight matmul of the forward
MATMUL_SHARE = 0.5  # share of the measured matmul throughput a whole forward/backward achieves
PASS_OVERHEAD_S = {"cpu": 4e-4, "cuda": 1.5e-4}  # per layer and pass: Python, hooks, kernel launches


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    add_options(parser.add_argument, ("budget", "device", "dtype", "max-memory"))
    add_seed_argument(parser)
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="torch threads (default: from the free cores)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


@dataclass
class ModelFacts:
    """One model of the pair as the plan sees it, without its weights loaded."""

    role: str
    path: str
    identity: cache.ModelIdentity
    shape: batching.ModelShape
    n_params: int
    matmul_params: int  # parameters that multiply every token (all but the input embedding)
    tokenizer: Any


@dataclass
class Line:
    measurement: str
    model: str
    task: str
    cached: str  # "yes", "no", or "?" when the pool is not known yet
    rows_forward: int
    rows_backward: int
    passes: int
    seconds: float
    peak_bytes: int


def read_model(role: str, paths: Any, device: torch.device, dtype: str) -> ModelFacts:
    """A safetensors folder is read without loading it: kind and family as load_subject decides
    them, shape from config.json (mechtests.models.shape), parameter count from the safetensors
    headers, identity from the weights' sha256. Anything else (a GGUF file, whose shapes live in
    its quantized tensors) is loaded."""
    folder, options = Path(paths.path(role)), paths.load_options(role)
    torch_dtype = getattr(torch, dtype)
    element = torch.finfo(torch_dtype).bits // 8
    if "gguf_file" in options or not sorted(folder.glob("*.safetensors")):
        subject = load_subject(folder, **options)
        n_params = sum(p.numel() for p in subject.model.parameters())
        embed = subject.model.get_input_embeddings().weight.numel()
        identity = cache.ModelIdentity(subject.weights_sha256, subject.kind, subject.mask_token_id, subject.prediction, torch_dtype, device)
        shape = batching.ModelShape.from_config(subject.model.config, element, subject.n_layers, subject.vocab_size)
        return ModelFacts(role, str(folder), identity, shape, n_params, n_params - embed, subject.tokenizer)
    checkpoint = resolve_checkpoint(folder, **options)
    spec = checkpoint.spec
    sizes = tensor_sizes(checkpoint.weights)
    n_params = sum(sizes.values())
    embed = sum(count for name, count in sizes.items() if "embed_tokens" in name or name.endswith("wte.weight"))
    identity = cache.ModelIdentity(weights_sha256(checkpoint.weights), str(spec.kind), spec.mask_token_id, str(spec.prediction),
                                   torch_dtype, device)
    shape = batching.ModelShape.from_config(checkpoint.raw, element)
    return ModelFacts(role, str(folder), identity, shape, n_params, n_params - embed, checkpoint.tokenizer)


def matmul_flops_per_s(shape: batching.ModelShape, device: torch.device, dtype: str, seconds: float = 0.2) -> float:
    """Throughput of (256 x d) @ (d x d_mlp) matmuls on `device`, measured now for about `seconds`."""
    a = torch.randn(256, shape.d_model, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(shape.d_model, shape.d_mlp, device=device, dtype=getattr(torch, dtype))
    (a @ b).sum().item()  # warm-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        (a @ b).sum().item()
        runs += 1
    return 2 * 256 * shape.d_model * shape.d_mlp * runs / (time.perf_counter() - start)


def forward_flops(model: ModelFacts, seq_len: int) -> float:
    """FLOPs of one row's forward pass: 2 per multiplying parameter per token, plus attention (QK and AV)."""
    s = model.shape
    return seq_len * (2 * model.matmul_params + 4 * s.n_layers * seq_len * s.d_model)


def estimate(model: ModelFacts, device: torch.device, seq_len: int, budget: int, flops_per_s: float,
             rows_fwd: int, rows_bwd: int, grad_row_kind: dict[str, bool]) -> tuple[int, float, int]:
    """(passes, seconds, peak bytes) of rows_fwd no-grad rows and rows_bwd forward+backward rows."""
    shape = model.shape
    weights = model.n_params * shape.element_bytes
    fwd_per_pass = batching.rows_within(budget, batching.row_bytes(shape, seq_len), device)
    bwd_per_pass = batching.rows_within(budget, batching.row_bytes(shape, seq_len, grad=True, **grad_row_kind), device)
    passes = math.ceil(rows_fwd / fwd_per_pass) + math.ceil(rows_bwd / bwd_per_pass)
    flops = forward_flops(model, seq_len) * (rows_fwd + (1 + BACKWARD_PER_FORWARD) * rows_bwd)
    seconds = flops / (MATMUL_SHARE * flops_per_s) + passes * shape.n_layers * PASS_OVERHEAD_S[device.type]
    peak_rows = max(min(rows_fwd, fwd_per_pass) * batching.row_bytes(shape, seq_len),
                    min(rows_bwd, bwd_per_pass) * batching.row_bytes(shape, seq_len, grad=True, **grad_row_kind))
    return passes, seconds, weights + peak_rows


def plan(models: list[ModelFacts], budget: run_budget.Budget, seed: int, max_memory: batching.MemoryLimit,
         device: torch.device, dtype: str) -> dict[str, Any]:
    """The lines of the plan: per task, each model's correctness, then each model's EAP-IG on the
    pool (common-correct with two models, the model's own correct examples with one)."""
    tasks = TaskSet(models[0].tokenizer, n=budget.candidates, seed=seed)
    memory = max_memory.bytes_for(device)
    flops_per_s = matmul_flops_per_s(models[0].shape, device, dtype)
    lines: list[Line] = []
    unposed: dict[str, str] = {}
    for task in tasks:
        try:
            examples = tasks[task]
        except MechtestsError as err:  # a task this tokenizer cannot pose: its hypotheses do not apply
            unposed[task] = err.problem
            continue
        seq_len = max(len(ex.tokens) for ex in examples)
        correct = []
        for m in models:
            hit = cache.load(cache.cache_key(m.identity, task, examples, "correct"))
            correct.append(None if hit is None else hit[0]["correct"].bool())
            passes, seconds, peak = estimate(m, device, seq_len, memory, flops_per_s, len(examples), 0, {})
            lines.append(Line(f"correct ({len(examples)} candidates)", m.role, task, "yes" if hit else "no",
                              len(examples), 0, passes, seconds, peak))
        pool = None
        if all(c is not None for c in correct):
            both = torch.stack(correct).all(0).tolist()
            pool = [ex for ex, ok in zip(examples, both) if ok][: budget.pool_size]
        size = len(pool) if pool is not None else min(budget.pool_size, len(examples))
        if pool is not None and size < max(budget.min_pool, 1):
            continue  # the hypotheses on this task are not applicable: no attribution is computed
        params = {"steps": budget.ig_steps, "denoise_steps": 1}
        for m in models:
            status = "?" if pool is None else ("yes" if cache.stored(cache.cache_key(m.identity, task, pool, "eap-ig", params)) else "no")
            passes, seconds, peak = estimate(m, device, seq_len, memory, flops_per_s, 2 * size, budget.ig_steps * size,
                                             {"per_head_inputs": True})
            label = f"pool {size}" if pool is not None else f"pool <= {size}"
            lines.append(Line(f"eap-ig ({budget.ig_steps} steps, {label})", m.role, task, status, 2 * size,
                              budget.ig_steps * size, passes, seconds, peak))
    todo = [line for line in lines if line.cached != "yes"]
    return {
        "models": {m.role: {"path": m.path, "layers": m.shape.n_layers, "heads": m.shape.n_heads, "d_model": m.shape.d_model,
                            "parameters": m.n_params, "sha256": m.identity.weights_sha256} for m in models},
        "budget": budget.name, "device": str(device), "dtype": dtype, "threads": torch.get_num_threads(), "memory_budget_bytes": memory,
        "matmul_flops_per_s": flops_per_s,
        "calibration": "matmul throughput measured now; MATMUL_SHARE and PASS_OVERHEAD_S are documented constants",
        "lines": [asdict(line) for line in lines], "not_posed": unposed,
        "total": {"measurements": len(lines), "cached": len(lines) - len(todo),
                  "rows_forward": sum(line.rows_forward for line in todo), "rows_forward_backward": sum(line.rows_backward for line in todo),
                  "passes": sum(line.passes for line in todo), "seconds": sum(line.seconds for line in todo),
                  "peak_bytes": max((line.peak_bytes for line in lines), default=0)},
    }


def _size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _duration(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h")


def render(report: dict[str, Any]) -> str:
    out = [f"pair {report['pair']}:"]
    for role, m in report["models"].items():
        out.append(f"  {role.upper()} {m['path']}: {m['layers']} layers x {m['heads']} heads, d_model {m['d_model']}, "
                   f"{m['parameters'] / 1e6:.1f}M parameters")
    out.append(f"run budget {report['budget']}; device {report['device']} ({report['dtype']}), {report['threads']} torch thread(s), memory budget "
               f"{_size(report['memory_budget_bytes'])}, matmul {report['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s (measured now)")
    head = ("measurement", "model", "task", "cached", "rows fwd", "rows fwd+bwd", "passes", "time", "peak memory")
    rows = [head] + [(line["measurement"], line["model"], line["task"], line["cached"], str(line["rows_forward"]),
                      str(line["rows_backward"]), str(line["passes"]), _duration(line["seconds"]), _size(line["peak_bytes"]))
                     for line in report["lines"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    t = report["total"]
    out.append(f"to compute: {t['measurements'] - t['cached']} of {t['measurements']} measurements ({t['cached']} cached), "
               f"{t['rows_forward']} rows forward and {t['rows_forward_backward']} forward+backward in {t['passes']} passes: "
               f"about {_duration(t['seconds'])}, peak memory about {_size(t['peak_bytes'])}")
    for task, why in report["not_posed"].items():
        out.append(f"not counted, {task}: {why}")
    out.append("'?': the pool is known once both models' correctness is cached. Not counted: ablations, detectors, "
               "robustness variants. Time: measured matmul throughput x documented constants (mechtests.commands.plan).")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    settings = settings_for(options_given(args))
    paths = settings.pair
    torch.set_num_threads(args.threads or placement.default_threads())
    device = placement.resolve_device(settings["device"] or "auto")
    dtype = placement.resolve_dtype(settings["dtype"] or "auto", device)
    max_memory = batching.parse_max_memory(settings["max-memory"] or "auto")
    models = [read_model(role, paths, device, dtype) for role in paths.roles]
    report = {"pair": paths.name or "custom", **plan(models, settings.budget, settings["seed"], max_memory, device, dtype)}
    print(json.dumps(report, indent=2) if args.json else render(report), file=sys.stdout)
    return 0
