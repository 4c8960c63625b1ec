"""--mech-ray's input errors come before any test runs, as one line with exit 4 (#29 point 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mechtests.errors import MechtestsError
from mechtests.plugin.cluster import largest_node_memory

pytest.importorskip("ray", reason="the cluster tests need Ray (pip install -e '.[ray]')")
pytestmark = pytest.mark.extras

ROOT = Path(__file__).resolve().parents[2]


def _pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "suites/test_heads.py", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("address, says", [
    ("127.0.0.1:1", "cannot reach a Ray cluster at '127.0.0.1:1'"),
    ("no-port-here", "is not an address Ray takes"),
])
def test_a_cluster_that_cannot_be_reached_is_one_line_exit_4(address, says):
    run = _pytest(f"--mech-ray={address}")
    assert run.returncode == 4
    (line,) = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert says in line and "Traceback" not in run.stdout + run.stderr


def test_ray_and_xdist_together_are_a_usage_error():
    run = _pytest("--mech-ray=127.0.0.1:1", "-n", "2")
    assert run.returncode == 4 and "drop -n" in run.stderr


def test_a_cluster_without_a_node_big_enough_for_the_pair_is_refused():
    nodes = [{"Alive": True, "Resources": {"memory": 2.0**30}}, {"Alive": False, "Resources": {"memory": 2.0**40}}]
    assert largest_node_memory(nodes) == 2.0**30
    with pytest.raises(MechtestsError, match="no node of the Ray cluster .* has the 4.0 GiB"):
        largest_node_memory(nodes, need=4 * 2**30, address="HOST:6379")
