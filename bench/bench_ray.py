"""Benchmark: the bundled selection on a local two-node Ray cluster (--mech-ray) against -n 0, side by side.

Usage (as root, with the ray extra; BENCHMARKS.md gives the command behind its table):
    OMP_NUM_THREADS=1 python bench/bench_ray.py --repeats 2
    OMP_NUM_THREADS=1 python bench/bench_ray.py -- suites/test_heads.py suites/test_copying_property.py

It starts a head and a second node, one CPU each, inside a loopback-only network namespace
(as tests/cluster does: Ray on Linux ignores --node-ip-address=127.0.0.1), then runs the same
selection with `-n 0`, with `-n 2` (two workers on the same two cores the two nodes have) and
with `--mech-ray`, in turn, each cold (a fresh cache folder,
which the runners get through $MECHTESTS_CACHE_DIR) and in a fresh process, and prints each
wall time, the ratios and the machine's load average. The Ray figure includes
starting the runners (one Python process per node that imports torch and loads the models);
the cluster's own start is not timed. Goal (#29): at most 1.2x on one machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
DEFAULT_SELECTION = ["suites/test_heads.py", "suites/test_copying_property.py"]


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("selection", nargs="*", default=DEFAULT_SELECTION, help="pytest paths and options, after --")
    args = parser.parse_args()
    ns = f"mechtests-bench-{os.getpid()}"
    temp = Path(tempfile.mkdtemp(prefix="mechtests-bench-ray-"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    inside = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(inside + ["ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(inside + [RAY, "start", "--head", "--port=6379", "--num-cpus=1", "--include-dashboard=false",
                                 "--disable-usage-stats", f"--temp-dir={temp / 'ray'}"], check=True, env=env, capture_output=True)
        subprocess.run(inside + [RAY, "start", "--address=127.0.0.1:6379", "--num-cpus=1", "--disable-usage-stats"],
                       check=True, env=env, capture_output=True)
        base = [sys.executable, "-m", "pytest", *args.selection, "-p", "no:cacheprovider", "-q"]
        times: dict[str, list[float]] = {"-n 0": [], "-n 2": [], "ray": []}
        for repeat in range(args.repeats):
            for label, command in (("-n 0", base + ["-n", "0"]), ("-n 2", base + ["-n", "2"]),
                                   ("ray", inside + base + ["--mech-ray=127.0.0.1:6379"])):
                cold = {**env, "MECHTESTS_CACHE_DIR": str(temp / f"cache-{label.strip('- ')}-{repeat}")}
                seconds = timed(command + [f"--mech-report={temp / 'reports'}"], cold)
                times[label].append(seconds)
                print(f"{label:5s} repeat {repeat}: {seconds:6.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
        local, xdist, ray = (statistics.median(times[label]) for label in ("-n 0", "-n 2", "ray"))
        print(f"median: -n 0 {local:.1f} s, -n 2 {xdist:.1f} s, ray {ray:.1f} s; ray / -n 0 {ray / local:.2f}x, "
              f"ray / -n 2 {ray / xdist:.2f}x (two one-CPU nodes against two xdist workers: the same cores)")
    finally:
        subprocess.run(inside + [RAY, "stop", "--force"], env=env, capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
