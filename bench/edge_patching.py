"""Benchmark: one edge-patched pass (every head reading its own mix of upstream outputs, half the
edges dropped, a different circuit per row) against a plain forward pass of the same rows.

Usage (BENCHMARKS.md gives the command behind its figures):
    python bench/edge_patching.py --model fixtures/smollm2/mdm --batch 8      # SmolLM2-135M: 30 layers, 301 nodes
    python bench/edge_patching.py --model fixtures/tiny-pair/arm --batch 32   # the bundled ARM: 4 layers
    python bench/edge_patching.py --model fixtures/smollm2/mdm --batch 8 --repeats 1 --profile   # where a pass's time goes

The ratio patched/forward is what the plan charges an edge-patched row (mechtests.commands.
plan_models); comparing two revisions means running this file in each one's checkout. Each case
runs --repeats interleaved rounds after a warm-up, one torch thread; medians in ms and the ratio
with a 95% bootstrap interval over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import mechtests  # noqa: E402
from bench_measure import interleaved, ratio_interval  # noqa: E402
from mechtests.measure.attribution import Layout, capture, patched_logits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fixtures/tiny-pair/arm", help="a model folder mechtests.load_subject reads")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's top operators of one edge-patched pass")
    args = parser.parse_args()
    torch.set_num_threads(1)
    subject = mechtests.load_subject(args.model)
    layout = Layout(subject)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, min(50, subject.vocab_size), (args.batch, args.tokens), generator=gen)
    mask = torch.ones_like(ids)
    reference = capture(layout, ids.flip(1), mask)
    drop = torch.rand(args.batch, *layout.graph.edge_mask.shape, generator=gen) < 0.5

    def forward() -> None:
        with torch.no_grad():
            subject.model(**subject.model_inputs(ids, mask))

    cases = {"forward": forward, "edge-patched": lambda: patched_logits(layout, ids, mask, reference, drop)}
    times = interleaved(cases, args.repeats)
    g = layout.graph
    print(f"{args.model}: {subject.n_layers} layers x {g.n_heads} heads, {len(g.upstream)} upstream nodes, batch {args.batch}, {args.tokens} tokens")
    for name, t in times.items():
        print(f"{name}: {1000 * statistics.median(t):.1f} ms")
    ratio, lo, hi = ratio_interval(times["edge-patched"], times["forward"])
    print(f"edge-patched / forward: {ratio:.2f} [{lo:.2f}, {hi:.2f}]")
    if args.profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            cases["edge-patched"]()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


if __name__ == "__main__":
    main()
