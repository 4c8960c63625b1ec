"""Benchmark: EAP-IG's edge products (delta . gradient summed over positions and width) in
column blocks of whole layers, against the full (n_up, n_down) product and against session 7's
einsum over token-major tensors, on random tensors of a model's graph shape.

Usage (BENCHMARKS.md gives the command behind its figures):
    python bench/edge_products.py --layers 30 --heads 9 --width 576 --batch 8     # SmolLM2-135M's graph
    python bench/edge_products.py --layers 4 --heads 4 --width 128 --batch 32     # the bundled ARM's

Each case runs --repeats interleaved rounds after a warm-up, one torch thread; medians in ms,
and each case's ratio to the default blocks with a 95% bootstrap interval over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_measure import interleaved, ratio_interval  # noqa: E402
from mechtests.measure.attribution import Graph  # noqa: E402
from mechtests.measure.attribution.eap import edge_products  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--width", type=int, default=576)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    graph = Graph(args.layers, args.heads)
    gen = torch.Generator().manual_seed(0)
    shape = (args.batch, args.tokens, args.width)
    delta = torch.randn(shape[0], len(graph.upstream), *shape[1:], generator=gen)  # node-major (B, n, T, d)
    grads = torch.randn(shape[0], len(graph.downstream), *shape[1:], generator=gen)
    delta_t, grads_t = delta.transpose(1, 2).contiguous(), grads.transpose(1, 2).contiguous()  # token-major (B, T, n, d)
    mask = graph.edge_mask
    cases = {
        "blocks (default)": lambda: edge_products(graph, delta, grads),
        "one layer a block": lambda: edge_products(graph, delta, grads, block_columns=1),
        "full product": lambda: torch.bmm(delta.flatten(2), grads.flatten(2).transpose(1, 2)) * mask,
        "session 7 einsum": lambda: torch.einsum("btud,btvd->buv", delta_t, grads_t) * mask,
    }
    torch.testing.assert_close(cases["blocks (default)"](), cases["session 7 einsum"](), rtol=1e-4, atol=1e-3)
    times = interleaved(cases, args.repeats)
    base = times["blocks (default)"]
    print(f"graph: {args.layers} layers x {args.heads} heads, d {args.width}, batch {args.batch}, {args.tokens} tokens")
    for name, t in times.items():
        ratio, lo, hi = ratio_interval(t, base)
        print(f"{name}: {1000 * statistics.median(t):.1f} ms, {ratio:.2f} [{lo:.2f}, {hi:.2f}] of the default blocks")


if __name__ == "__main__":
    main()
