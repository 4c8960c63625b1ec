"""`mechtests plan`: what a run of the suites will cost, per hypothesis, before it starts.

    mechtests plan                                  # the default pair (pyproject.toml), every hypothesis
    mechtests plan --pair smollm2 -k induction      # the hypotheses pytest's -k would select
    mechtests plan --arm PATH --mdm PATH --mech-budget paper --json
    mechtests plan --measure                        # measure this machine's throughput again

It takes pytest's run options (pair, budget, device, dtype, memory, seed), `-k EXPR` and test
paths (default: the project's suites/), and counts every measurement each selected hypothesis
asks for: pools and correctness, EAP-IG, edge patching (faithfulness curves included), ablations
with their control draws, head detectors, the logit lens, robustness variants, property examples.

How it counts (the choice, and why): the hypotheses are run, as pytest runs them, on stand-in
models that have the real models' shape, kind, tokenizer and identity but no weights, with
every model-running function replaced by a recorder (mechtests.commands.plan_dryrun). Each
function's rows are declared once, beside it (mechtests.commands.plan_work), from the arguments
the suite passed. So the plan follows the suites' code, not a copy of it: a new hypothesis, a
new variant or a new `-k` is counted without touching the plan, and a model-running function
nobody declared makes the hypothesis "partly counted" (named), never silently cheap. A cached
measurement (same key as the run would use) costs nothing, and a cached pool is the real pool.
The tests/test_pass_counts.py test holds the declarations to the rows the real run sends
through the models on the bundled pair.

Seconds come from the cost model in mechtests.commands.plan_models and the matmul throughput
measured once for this machine and kept (mechtests.run.throughput). Each hypothesis's figure is
its cost alone and cold (run by itself with `-k`); the total counts each shared measurement once.
With sequential decisions (the budget's `sequential`), each figure is the full-sample bound and
the likely figure: every verdict decided at its first look (`first_round` examples, the first
batch of control draws); most verdicts sit far from their bars (issue #26).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from mechtests.commands.plan_dryrun import dry_run
from mechtests.commands.plan_models import ModelFacts, cost, read_model
from mechtests.commands.plan_render import render
from mechtests.commands.project import add_pair_arguments, add_seed_argument, find_project, options_given, settings_for
from mechtests.errors import MechtestsError
from mechtests.models import placement
from mechtests.run import batching, throughput
from mechtests.run.budget import Budget
from mechtests.run.command_line import add_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    add_options(parser.add_argument, ("budget", "sequential", "device", "dtype", "max-memory"))
    add_seed_argument(parser)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="test files or folders, as for pytest (default: the project's suites/)")
    parser.add_argument("-k", dest="select", metavar="EXPR", default=None, help="only the hypotheses pytest's -k EXPR selects")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="torch threads (default: from the free cores)")
    parser.add_argument("--measure", action="store_true", help="measure this machine's throughput again (else the kept figure)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def plan(models: dict[str, ModelFacts], recorder: Any, budget: Budget, memory: int, device: torch.device, flops_per_s: float) -> dict[str, Any]:
    """Per hypothesis: its measurements with rows, passes, seconds and peak memory, in full and at
    a first look; and the run's total, each shared measurement counted once."""
    hypotheses, seen, total = {}, set(), {"full": 0.0, "first": 0.0, "passes": 0, "peak_bytes": 0}
    for test, works in recorder.works.items():
        lines, full, first = [], 0.0, 0.0
        for work in works:
            model = models[work.model] if work.model in models else next(iter(models.values()))
            whole, look = cost(work, model, device, memory, flops_per_s), cost(work, model, device, memory, flops_per_s, first=True)
            fwd, bwd = work.rows()
            lines.append({"measurement": work.kind, "model": work.model, "task": work.task, "cached": work.cached,
                          "examples": work.examples, "rows_forward": fwd, "rows_forward_backward": bwd, "passes": whole.passes,
                          "seconds": whole.seconds, "seconds_first_look": look.seconds, "peak_bytes": whole.peak_bytes})
            full, first = full + whole.seconds, first + look.seconds
            if work.key is None or work.key not in seen:  # a key an earlier hypothesis computed: in memory by now
                total["full"] += whole.seconds
                total["first"] += look.seconds
                total["passes"] += whole.passes
                total["peak_bytes"] = max(total["peak_bytes"], whole.peak_bytes)
        seen |= {work.key for work in works if work.key is not None}
        hypotheses[test] = {"seconds": full, "seconds_first_look": first, "lines": lines,
                            "rows_forward": sum(line["rows_forward"] for line in lines if not line["cached"]),
                            "rows_forward_backward": sum(line["rows_forward_backward"] for line in lines if not line["cached"]),
                            "partly_counted": recorder.problems.get(test)}
    return {"hypotheses": hypotheses, "total": {"seconds": total["full"], "seconds_first_look": total["first"],
                                                 "passes": total["passes"], "peak_bytes": total["peak_bytes"]}}


def run(args: argparse.Namespace) -> int:
    options = options_given(args)
    settings = settings_for(options)
    paths = settings.pair
    torch.set_num_threads(args.threads or placement.default_threads())
    device = placement.resolve_device(settings["device"] or "auto")
    dtype = placement.resolve_dtype(settings["dtype"] or "auto", device)
    memory = batching.parse_max_memory(settings["max-memory"] or "auto").bytes_for(device)
    models = {role: read_model(role, paths, device, dtype) for role in paths.roles}
    shape = next(iter(models.values())).shape
    speed = throughput.throughput(shape.d_model, shape.d_mlp, device, dtype, remeasure=args.measure)
    tests = args.paths or [str(find_project() / "suites")]
    if not args.paths and not (find_project() / "suites").is_dir():
        raise MechtestsError("no suites/ folder in the project", "pass the test files or folders to plan, as for pytest")
    recorder = dry_run(models, options, args.select, tests)
    budget = settings.budget
    sequential = budget.sequential if settings["sequential"] is None else settings["sequential"]
    report = {
        "pair": paths.name or "custom", "budget": budget.name, "sequential": sequential, "first_round": budget.first_round,
        "device": str(device), "dtype": dtype, "threads": torch.get_num_threads(), "memory_budget_bytes": memory,
        "matmul_flops_per_s": speed.flops_per_s, "throughput_measured_at": speed.measured_at, "throughput_key": speed.key,
        "throughput_fresh": speed.fresh, "select": args.select, "paths": tests,
        "models": {role: {"path": m.path, "layers": m.shape.n_layers, "heads": m.shape.n_heads, "d_model": m.shape.d_model,
                          "parameters": m.n_params, "sha256": m.identity.weights_sha256} for role, m in models.items()},
        **plan(models, recorder, budget, memory, device, speed.flops_per_s),
    }
    print(json.dumps(report, indent=2) if args.json else render(report), file=sys.stdout)
    return 0
