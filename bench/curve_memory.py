"""Benchmark: time and peak resident memory of one faithfulness curve (mechtests.measure.curves.
measure_curve: every distinct circuit of the grid, both rankings, edge-patched side by side).

Usage (BENCHMARKS.md gives the command behind its figures):
    python bench/curve_memory.py --model fixtures/smollm2/mdm --task induction --examples 32

Run it once per revision (in each one's checkout) to compare them: the process measures one
curve and exits, so its peak (getrusage) is the curve's, on top of the model and the examples.
Scores are random (a fixed seed): the cost does not depend on which edges rank first. One torch
thread, the memory budget as a run's (mechtests.run.batching).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mechtests  # noqa: E402
from mechtests.measure.attribution import graph_for  # noqa: E402
from mechtests.measure.curves import measure_curve  # noqa: E402
from mechtests.run import budget  # noqa: E402
from mechtests.tasks import TaskSet  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: kB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fixtures/tiny-pair/arm", help="a model folder mechtests.load_subject reads")
    parser.add_argument("--task", default="induction")
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--budget", default="quick", choices=sorted(budget.BUDGETS), help="whose faithfulness grid")
    args = parser.parse_args()
    torch.set_num_threads(1)
    subject = mechtests.load_subject(args.model)
    examples = TaskSet(subject.tokenizer, n=args.examples, seed=0)[args.task][: args.examples]
    graph = graph_for(subject)
    scores = torch.randn(graph.edge_mask.shape, generator=torch.Generator().manual_seed(0)) * graph.edge_mask
    before = peak_gib()
    start = time.perf_counter()
    curve = measure_curve(subject, examples, scores, graph, budget.BUDGETS[args.budget].faithfulness_grid)
    seconds = time.perf_counter() - start
    print(f"{args.model}, {args.task}: {len(examples)} examples, {len(curve.sizes)} sizes, {len(graph.upstream)} upstream nodes")
    print(f"curve: {seconds:.1f} s; peak resident {peak_gib():.2f} GiB (before the curve {before:.2f} GiB)")


if __name__ == "__main__":
    main()
