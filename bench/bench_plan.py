"""Benchmark: `mechtests plan`'s per-hypothesis estimate against the same hypothesis run alone, cold.

Usage (BENCHMARKS.md gives the commands behind its table):
    OMP_NUM_THREADS=1 python bench/bench_plan.py --pair tiny --budget quick
    OMP_NUM_THREADS=1 python bench/bench_plan.py --pair tiny --budget quick -k "heads_present or faithful" --sequential on

It makes the plan as `mechtests plan` does (same pair, budget, seed, sequential setting, one
torch thread, the kept throughput), then runs every hypothesis the plan lists on its own:
`pytest ID -n 0 -p no:cacheprovider` in a fresh process with an empty cache folder of its own,
and reads the test's call time (the hypothesis, its parts and measurements; the plan's figure)
and its setup time (the models load; not in the plan) from pytest's --durations.
Each line prints the plan's figure (the full-sample bound; with --sequential on also the likely
figure), the measured time, their ratio and the machine's load average when it ran (a shared
machine makes every time noisy: the load says how much). The goal (#26 point 3): within 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def planned(args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "mechtests.cli", "plan", "--pair", args.pair, "--mech-budget", args.budget, "--mech-sequential",
               args.sequential, "--threads", "1", "--json", *(["-k", args.k] if args.k else []), str(ROOT / "suites")]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def measured(test_id: str, args: argparse.Namespace) -> tuple[float, float]:
    """(setup, call) seconds of one hypothesis, alone and cold, from pytest's --durations (setup:
    the models load; call: the hypothesis, its parts and measurements)."""
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as folder:
        env = {**os.environ, "MECHTESTS_CACHE_DIR": f"{folder}/cache", "OMP_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-m", "pytest", test_id, "-n", "0", "-q", "-p", "no:cacheprovider", "--mech-pair", args.pair,
                              "--mech-budget", args.budget, "--mech-sequential", args.sequential, "--mech-report", f"{folder}/report",
                              "--durations=0", "--durations-min=0"], cwd=ROOT, env=env, capture_output=True, text=True).stdout
    times = {"setup": 0.0, "call": 0.0}
    for line in out.splitlines():
        words = line.split()
        if len(words) == 3 and words[0].endswith("s") and words[1] in times and words[2] == test_id:
            times[words[1]] += float(words[0][:-1])
    return times["setup"], times["call"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="tiny")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--sequential", default="off", choices=("on", "off"))
    parser.add_argument("-k", default=None, help="only the hypotheses pytest's -k selects")
    parser.add_argument("--out", default=None, help="write the lines as JSON here")
    args = parser.parse_args()
    report = planned(args)
    print(f"pair {args.pair}, budget {args.budget}, sequential {args.sequential}, matmul {report['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s "
          f"(measured {report['throughput_measured_at']}), 1 thread", flush=True)
    print(f"{'hypothesis':78} {'plan':>9} {'likely':>9} {'call':>9} {'ratio':>6} {'setup':>7}  load", flush=True)
    lines = []
    for test_id, h in report["hypotheses"].items():
        setup, seconds = measured(test_id, args)
        load = os.getloadavg()[0]
        ratio = seconds / h["seconds"] if h["seconds"] else float("inf")
        lines.append({"hypothesis": test_id, "plan_s": h["seconds"], "likely_s": h["seconds_first_look"], "measured_s": seconds,
                      "setup_s": setup, "ratio": ratio, "load": load})
        print(f"{test_id:78} {h['seconds']:8.1f}s {h['seconds_first_look']:8.1f}s {seconds:8.1f}s {ratio:6.2f} {setup:6.1f}s  {load:.1f}",
              flush=True)
    ratios = [line["ratio"] for line in lines]
    print(f"within 1.5x: {sum(1 / 1.5 <= r <= 1.5 for r in ratios)} of {len(ratios)}; "
          f"plan total {sum(x['plan_s'] for x in lines):.1f}s, measured total {sum(x['measured_s'] for x in lines):.1f}s")
    if args.out:
        Path(args.out).write_text(json.dumps(lines, indent=2))


if __name__ == "__main__":
    main()
