"""Benchmark: mechtests' logit lens (every head's and MLP's direct-logit z-score of the answer) on
one task's examples, the component outputs cached first so that only the lens is timed.

Usage (BENCHMARKS.md gives the command behind its figures; comparing two revisions means
running this file in each one's checkout):
    python bench/logit_lens.py --model fixtures/smollm2/mdm --task ioi --examples 100   # SmolLM2-135M: 49k tokens

The specialization hypothesis reads the lens of both models on each task's common pool; on a
49k-token vocabulary, projecting every component onto every token was most of its time. Each
case runs --repeats times after a warm-up, one torch thread; the median in seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mechtests  # noqa: E402
from mechtests.measure import contrasts  # noqa: E402
from mechtests.tasks import TaskSet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fixtures/tiny-pair/arm", help="a model mechtests.load_subject reads")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    subject = mechtests.load_subject(args.model)
    examples = TaskSet(subject.tokenizer, n=args.examples, seed=0)[args.task][: args.examples]
    outputs = contrasts.cache(subject, contrasts.as_pair(subject, examples)[0], _sites(subject))
    contrasts.cache = lambda *_args, **_kwargs: outputs  # the lens alone: its component outputs come from the pass above
    contrasts.logit_lens(subject, examples)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        lens = contrasts.logit_lens(subject, examples)
        times.append(time.perf_counter() - start)
    print(f"{args.model}: {subject.n_layers} layers x {subject.n_heads} heads, vocabulary {subject.vocab_size}, {len(examples)} {args.task} examples")
    print(f"logit lens: {statistics.median(times):.2f} s (median of {args.repeats}); sharpest component {lens.sharpest()}")


def _sites(subject) -> list:
    sites = [mechtests.Site("head", l, h) for l in range(subject.n_layers) for h in range(subject.n_heads)]
    return sites + [mechtests.Site("mlp_out", l) for l in range(subject.n_layers)]


if __name__ == "__main__":
    main()
