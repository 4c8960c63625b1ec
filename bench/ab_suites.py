"""Suite time of two revisions, interleaved (A, B, A, B, ...), each run cold in its own cache.

    python bench/ab_suites.py REV_A REV_B [--rounds 2] [--pytest-args "-n 0"] [--link PATH ...]
    python bench/ab_suites.py A B --pytest-args "--pair smollm2 -n 0 -k previous_token" --link fixtures/smollm2/mdm
    python bench/ab_suites.py HEAD HEAD --env-b OMP_NUM_THREADS=2   # one revision, two environments

Each side's revision is checked out once into a temporary git worktree (each --link, a path under the
repository that git ignores such as an assembled checkpoint, is linked into it); every run
starts from an empty disk cache (MECHTESTS_CACHE_DIR), with one torch thread, on the bundled
pair unless the pytest arguments name another, with the side's --env-a / --env-b variables
(VAR=VALUE, repeatable) on top of this environment. Interleaving spreads slow drifts of a shared
machine over both sides. Prints each run's wall, user and system time, minor page faults and
peak resident memory (GNU time), the ratio B/A per round and the ratio of the totals, with the
range of the per-round ratios as its spread; each side's last results.json is kept (its path is
printed) for `mechtests compare`.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


TIME_FORMAT = "%e %U %S %R %M"  # GNU time: wall s, user s, system s, minor faults, peak resident kB of the largest process


def checkout(rev: str, into: Path, links: list[str]) -> Path:
    """A detached worktree of `rev` in the folder `into`, with each of `links` linked to the repository's own."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(into), rev], check=True)
    for link in links:
        if not (ROOT / link).exists():
            sys.exit(f"ab_suites: --link {link}: not found under {ROOT}; build it first")
        (into / link).parent.mkdir(parents=True, exist_ok=True)
        (into / link).symlink_to(ROOT / link)
    return into


def timed_run(tree: Path, pytest_args: list[str], scratch: Path, extra_env: dict[str, str]) -> dict[str, float]:
    """Wall, user and system seconds, minor faults and peak kB of one cold `pytest suites/` in
    `tree`; a failing run (exit >= 2) aborts."""
    cache, timing = scratch / "cache", scratch / "time.txt"
    shutil.rmtree(cache, ignore_errors=True)
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "MECHTESTS_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1", **extra_env}
    done = subprocess.run(["/usr/bin/time", "-f", TIME_FORMAT, "-o", str(timing), sys.executable, "-m", "pytest", "suites/", "-q",
                           "-p", "no:cacheprovider", "--mech-report", str(scratch / "reports"), *pytest_args],
                          cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a hypothesis against its expectation is still a timed run
        sys.exit(f"ab_suites: pytest exited {done.returncode} in {tree}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    wall, user, system, faults, peak = timing.read_text().split()[-5:]
    return {"wall": float(wall), "user": float(user), "sys": float(system), "faults": float(faults), "peak_gb": float(peak) / 2**20}


def variables(pairs: list[str]) -> dict[str, str]:
    """VAR=VALUE arguments as a mapping; anything else ends the bench with the fix."""
    bad = [p for p in pairs if "=" not in p or not p.split("=", 1)[0]]
    if bad:
        sys.exit(f"ab_suites: --env-a/--env-b take VAR=VALUE, got {bad[0]!r}")
    return dict(p.split("=", 1) for p in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rev_a")
    parser.add_argument("rev_b")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pytest-args", default="-n 0")
    parser.add_argument("--link", action="append", default=[], help="a git-ignored path to link into each worktree")
    parser.add_argument("--env-a", action="append", default=[], metavar="VAR=VALUE", help="an environment variable for side A's runs")
    parser.add_argument("--env-b", action="append", default=[], metavar="VAR=VALUE", help="an environment variable for side B's runs")
    args = parser.parse_args()
    envs = {side: variables(getattr(args, f"env_{side.lower()}")) for side in ("A", "B")}
    work = Path(tempfile.mkdtemp(prefix="ab_suites_"))
    trees = {side: checkout(getattr(args, f"rev_{side.lower()}"), work / f"tree_{side}", args.link) for side in ("A", "B")}
    times: dict[str, list[float]] = {"A": [], "B": []}
    try:
        for round_ in range(args.rounds):
            for side in ("A", "B"):
                run = timed_run(trees[side], shlex.split(args.pytest_args), work / side, envs[side])
                times[side].append(run["wall"])
                label = " ".join([getattr(args, f"rev_{side.lower()}"), *(f"{k}={v}" for k, v in envs[side].items())])
                print(f"round {round_ + 1} {side} ({label}): {run['wall']:.1f} s wall, "
                      f"{run['user']:.1f} s user, {run['sys']:.1f} s system, {run['faults']:.3g} minor faults, "
                      f"peak {run['peak_gb']:.2f} GiB", flush=True)
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
