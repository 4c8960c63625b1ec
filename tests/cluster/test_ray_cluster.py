"""--mech-ray on a real Ray cluster (#29): a head and a second node, one CPU each, started on this
machine inside a loopback-only network namespace (Ray ignores --node-ip-address=127.0.0.1 on
Linux, so the namespace is what keeps the cluster off the network). Nothing of Ray is mocked.

The driver runs inside the namespace too; its results.json must equal an -n 0 run's (compare
tolerance 0.001 %), and a runner process killed mid-run must leave the same results, with the
retry noted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the cluster tests need Ray (pip install -e '.[ray]')")

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("ray-cluster"), pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="a loopback-only network namespace needs root and `ip`")]

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
SELECTION = ["suites/test_heads.py", "-k", "previous_token or induction_heads_present"]
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}


class Namespace:
    """A network namespace with only loopback up, and commands run inside it."""

    def __init__(self, name: str) -> None:
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.run(["ip", "link", "set", "lo", "up"])

    def command(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(args), check=True, env=ENV, cwd=ROOT, capture_output=True, text=True, **kwargs)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture(scope="module")
def cluster():
    ns = Namespace(f"mechtests-ray-{os.getpid()}")
    temp = Path(f"/tmp/mechtests-ray-{os.getpid()}")
    try:
        ns.run([RAY, "start", "--head", "--port=6379", "--num-cpus=1", "--include-dashboard=false",
                "--disable-usage-stats", f"--temp-dir={temp}"], timeout=180)
        ns.run([RAY, "start", "--address=127.0.0.1:6379", "--num-cpus=1", "--disable-usage-stats"], timeout=180)
        yield ns
    finally:
        subprocess.run(ns.command([RAY, "stop", "--force"]), env=ENV, capture_output=True, check=False)
        ns.delete()
        shutil.rmtree(temp, ignore_errors=True)


def _results(report: Path) -> dict:
    return json.loads((report / "results.json").read_text())


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    """The same selection with -n 0 on this machine: what the cluster's results must equal."""
    report = tmp_path_factory.mktemp("local")
    subprocess.run([sys.executable, "-m", "pytest", *SELECTION, "-n", "0", "-p", "no:cacheprovider", "-q",
                    f"--mech-report={report}"], check=True, env=ENV, cwd=ROOT, capture_output=True)
    return report


def _same_results(local: Path, remote: Path) -> None:
    compare = subprocess.run([sys.executable, "-m", "mechtests.cli", "compare", str(local / "results.json"),
                              str(remote / "results.json"), "--tolerance", "0.001%"], env=ENV, cwd=ROOT,
                             capture_output=True, text=True)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    verdicts = lambda r: {(h["key"], m): res["outcome"] for h in r["hypotheses"] for m, res in h["results"].items()}  # noqa: E731
    assert verdicts(_results(local)) == verdicts(_results(remote))


def test_the_suites_on_a_two_node_cluster_give_the_results_of_a_local_run(cluster, local, tmp_path):
    remote = tmp_path / "ray"
    cluster.run([sys.executable, "-m", "pytest", *SELECTION, "-p", "no:cacheprovider", "-q",
                 "--mech-ray=127.0.0.1:6379", f"--mech-report={remote}"], timeout=600)
    run = _results(remote)["run"]["invocation"]["cluster"]
    assert run["nodes"] == 2 and run["retries"] == []
    _same_results(local, remote)


def _runner_pids_off_the_head(ns: Namespace) -> list[int]:
    """The pids of mechtests runners whose raylet is the second node's (its sockets are raylet.1)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or "ray::Runner" not in (proc / "cmdline").read_text():
                continue
            parent = (proc / "stat").read_text().split()[3]
            if "sockets/raylet.1" in Path(f"/proc/{parent}/cmdline").read_text():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_a_runner_killed_mid_run_is_retried_and_the_results_stay_the_same(cluster, local, tmp_path):
    remote = tmp_path / "ray"
    driver = subprocess.Popen(cluster.command([sys.executable, "-m", "pytest", *SELECTION, "-p", "no:cacheprovider", "-q",
                                               "--mech-ray=127.0.0.1:6379", f"--mech-report={remote}"]),
                              env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not (pids := _runner_pids_off_the_head(cluster)) and time.time() < deadline and driver.poll() is None:
        time.sleep(0.5)
    assert pids, "no runner started on the second node"
    time.sleep(3)  # into its pytest session: loading the model, measuring
    os.kill(pids[0], signal.SIGKILL)
    output, _ = driver.communicate(timeout=600)
    assert driver.returncode == 0, output
    retries = _results(remote)["run"]["invocation"]["cluster"]["retries"]
    assert len(retries) == 1 and retries[0]["tests"] >= 1
    _same_results(local, remote)
