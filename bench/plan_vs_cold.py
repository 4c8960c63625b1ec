"""Benchmark: `mechtests plan`'s estimates against the same measurements run cold, one by one.

Usage (BENCHMARKS.md gives the commands behind its table):
    python bench/plan_vs_cold.py --pair tiny
    python bench/plan_vs_cold.py --pair smollm2 --budget quick --task ioi --task greater_than

It makes the plan exactly as `mechtests plan` does (same models, budget, seed, device, threads
and memory budget), then, with an empty disk cache, runs every measurement the plan lists in
the plan's order: each model's correctness on the task's candidates, then each model's EAP-IG
on the pool the suites use (common-correct with two models). Each line prints the estimate, the
measured wall time and their ratio; the goal (#14 point 6) is every ratio within 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mechtests import study  # noqa: E402
from mechtests.models import placement
from mechtests.run import batching
from mechtests.run import budget as run_budget  # noqa: E402
from mechtests.commands.project import settings_for  # noqa: E402
from mechtests.commands.plan import plan, read_model  # noqa: E402
from mechtests.models import load_subject  # noqa: E402
from mechtests.claims.outcomes import NotApplicable  # noqa: E402
from mechtests.tasks import TaskSet  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="tiny")
    parser.add_argument("--budget", default="default", choices=sorted(run_budget.BUDGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", action="append", help="only these tasks (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: mechtests' choice from the free cores)")
    parser.add_argument("--out", default=None, help="write the lines as JSON here")
    args = parser.parse_args()

    os.environ["MECHTESTS_CACHE_DIR"] = tempfile.mkdtemp(prefix="plan-vs-cold-")  # cold: nothing is cached
    torch.set_num_threads(args.threads or placement.default_threads())
    budget = run_budget.parse_budget(args.budget)
    device = placement.resolve_device("auto")
    dtype = placement.resolve_dtype("auto", device)
    paths = settings_for({"pair": (args.pair, "--pair")}).pair
    facts = [read_model(role, paths, device, dtype) for role in paths.roles]
    estimates = plan(facts, budget, args.seed, batching.parse_max_memory("auto"), device, dtype)
    subjects = {role: load_subject(paths.path(role), **paths.load_options(role)) for role in paths.roles}
    tasks = TaskSet(facts[0].tokenizer, n=budget.candidates, seed=args.seed)

    measured: dict[tuple[str, str, str], float] = {}
    skipped: list[str] = []
    with run_budget.using(budget):
        for task in tasks:
            if args.task and task not in args.task:
                continue
            examples = tasks[task]
            for role, subject in subjects.items():
                _, measured[("correct", role, task)] = timed(lambda s=subject: study.correctness(s, task, examples))
            try:
                pool = (study.common_pool(*subjects.values(), task, examples) if len(subjects) == 2
                        else study.own_pool(next(iter(subjects.values())), task, examples))
            except NotApplicable as why:  # the suites compute no attribution here; the plan, made cold, still counts one
                skipped.append(f"{task}: no EAP-IG measured ({why})")
                continue
            for role, subject in subjects.items():
                _, measured[("eap-ig", role, task)] = timed(lambda s=subject: study.attribution(s, task, pool))

    print(f"pair {args.pair}, budget {budget.name}, seed {args.seed}, {torch.get_num_threads()} thread(s), device {device}")
    print("| measurement | model | task | estimate s | measured s | measured / estimate |")
    print("|---|---|---|---|---|---|")
    rows = []
    for line in estimates["lines"]:
        key = (line["measurement"].split(" ")[0], line["model"], line["task"])
        if key not in measured:
            continue
        ratio = measured[key] / line["seconds"]
        rows.append({**line, "measured_seconds": measured[key], "ratio": ratio})
        print(f"| {line['measurement']} | {line['model']} | {line['task']} | {line['seconds']:.1f} | {measured[key]:.1f} | {ratio:.2f} |")
    total_e, total_m = sum(r["seconds"] for r in rows), sum(r["measured_seconds"] for r in rows)
    print(f"| all | | | {total_e:.1f} | {total_m:.1f} | {total_m / total_e:.2f} |")
    for line in skipped:
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "threads": torch.get_num_threads(), "lines": rows}, indent=1))


if __name__ == "__main__":
    main()
