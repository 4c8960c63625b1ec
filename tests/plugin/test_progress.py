"""Live progress: one updating line per running hypothesis on a terminal, nothing elsewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from mechtests import progress

SLOW = '''
import time

import mechtests
from mechtests import progress

@mechtests.hypothesis(claim="takes a while")
def test_slow(subject):
    progress.step("warming up")
    for _ in progress.iterate(range(3), "rounds"):
        time.sleep(0.7)
'''
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_in_terminal(path, *args: str, ci: bool = False) -> str:
    """pytest in `path` on a pseudo-terminal (so it is a TTY); everything it wrote, ANSI codes removed."""
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"TERM": "xterm", "COLUMNS": "120"} | ({"CI": "true"} if ci else {})
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=path, env=env,
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_steps_reach_the_sink_only_inside_reporting() -> None:
    progress.step("nobody listens")  # a no-op, not an error
    seen: list[str] = []
    with progress.reporting(lambda s: seen.append(str(s))):
        progress.step("stage")
        assert list(progress.iterate(["a", "b"], "items")) == ["a", "b"]
    progress.step("after")
    assert seen == ["stage", "items 1/2", "items 2/2"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "xdist"])
def test_a_terminal_shows_each_running_hypothesis(suite, workers) -> None:
    suite.write(test_x=SLOW)
    out = run_in_terminal(suite.pytester.path, *workers)
    assert re.search(r"x\.slow \[(arm|mdm)\]: warming up · rounds [12]/3 · \d+ s", out), out
    assert "2 passed" in out  # progress reports count as no outcome


@pytest.mark.parametrize("how", ["quiet", "ci", "pipe"])
def test_quiet_under_q_in_ci_and_when_not_a_terminal(suite, how) -> None:
    suite.write(test_x=SLOW)
    if how == "pipe":
        result = suite.run()
        out = result.stdout.str()
    else:
        out = run_in_terminal(suite.pytester.path, *(["-q"] if how == "quiet" else []), ci=how == "ci")
    assert "warming up" not in out and "rounds 1/3" not in out
    assert "2 passed" in out
