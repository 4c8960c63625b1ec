"""Suite time of two revisions, interleaved (A, B, A, B, ...), each run cold in its own cache.

    python bench/ab_suites.py REV_A REV_B [--rounds 2] [--pytest-args "-n 0"]

Each revision is checked out once into a temporary git worktree; every run starts from an empty
disk cache (MECHTESTS_CACHE_DIR), with one torch thread, on the bundled pair. Interleaving
spreads slow drifts of a shared machine over both sides. Prints each run's wall time, the ratio
B/A per round, and the ratio of the totals, with the range of the per-round ratios as its spread;
each side's last results.json is kept (its path is printed) for `mechtests compare`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout(rev: str, into: Path) -> Path:
    """A detached worktree of `rev` under `into`."""
    path = into / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(path), rev], check=True)
    return path


def timed_run(tree: Path, pytest_args: list[str], scratch: Path) -> float:
    """Wall seconds of one cold `pytest suites/` in `tree`; a failing run (exit >= 2) aborts."""
    cache = scratch / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "MECHTESTS_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "suites/", "-q", "-p", "no:cacheprovider",
                           "--mech-report", str(scratch / "reports"), *pytest_args],
                          cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: a hypothesis against its expectation is still a timed run
        sys.exit(f"ab_suites: pytest exited {done.returncode} in {tree}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rev_a")
    parser.add_argument("rev_b")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pytest-args", default="-n 0")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ab_suites_"))
    trees = {"A": checkout(args.rev_a, work), "B": checkout(args.rev_b, work)}
    times: dict[str, list[float]] = {"A": [], "B": []}
    try:
        for round_ in range(args.rounds):
            for side in ("A", "B"):
                seconds = timed_run(trees[side], shlex.split(args.pytest_args), work / side)
                times[side].append(seconds)
                print(f"round {round_ + 1} {side} ({getattr(args, 'rev_' + side.lower())}): {seconds:.1f} s", flush=True)
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    for side in ("A", "B"):
        print(f"{side} results: {work / side / 'reports' / 'results.json'}")
    ratios = [b / a for a, b in zip(times["A"], times["B"])]
    print(f"B/A per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"B/A of totals: {sum(times['B']) / sum(times['A']):.3f} (per-round range {min(ratios):.3f}-{max(ratios):.3f}, "
          f"median A {statistics.median(times['A']):.1f} s, median B {statistics.median(times['B']):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
