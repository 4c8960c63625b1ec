"""Live progress: one updating line per running hypothesis on a terminal, nothing elsewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import io
from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.run import progress
from mechtests.measure.attribution import attribute, graph_for
from mechtests.measure.circuits import edge_patched_metric
from mechtests.commands import status_line
from mechtests.commands.eval import evaluate as evaluate_pair
from mechtests.measure.ablations import targeted_ablation
from mechtests.measure.interventions import head_sweep
from mechtests.models import Site
from mechtests.queries import evaluate
from mechtests.stats import bootstrap_with_controls, ratio_of_means
from mechtests.tasks import TaskSet

PAIR = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"

SLOW = '''
import time

import mechtests
from mechtests.run import progress

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
    assert seen == ["stage", "items 0/2", "items 1/2", "items 2/2"]


def test_a_status_shows_the_stage_and_each_loop_outer_first() -> None:
    status = progress.Status()
    for step in [progress.Step("EAP-IG ioi (mdm)"), progress.Step("examples", 0, 64), progress.Step("passes", 1, 4),
                 progress.Step("examples", 8, 64), progress.Step("passes", 2, 4)]:
        status.update(step)
    assert str(status) == "EAP-IG ioi (mdm) · examples 8/64 · passes 2/4"
    status.update(progress.Step("ablation ioi (mdm)"))  # a new stage forgets the last one's loops
    assert str(status) == "ablation ioi (mdm)"


def test_long_measurements_on_the_bundled_pair_report_progress() -> None:
    """Each long loop (answers, EAP-IG batches and passes, head sweeps, control draws,
    the bootstrap with controls, edge patching) counts up to its total."""
    arm = mechtests.load_subject(PAIR / "arm")
    examples = TaskSet(arm.tokenizer, n=40, seed=0)["ioi"][:6]
    steps: list[progress.Step] = []
    with progress.reporting(steps.append):
        evaluate(arm, examples, batch_size=4)
        attribute(arm, examples, steps=4, batch_size=4)
        head_sweep(arm, examples, method="mean", rows_per_pass=12, layers=[0])
        ablation = targeted_ablation(arm, examples, [Site("head", 0, 0)], n_controls=2, max_controls=4, controls=("random",))
        bootstrap_with_controls(ablation.target, controls=ablation.random, statistic=ratio_of_means, n_resamples=50)
        edge_patched_metric(arm, examples, torch.ones_like(graph_for(arm).edge_mask), rows_per_pass=4)
    last = {s.what: s for s in steps}
    assert {what: (s.done, s.total) for what, s in last.items()} == {
        "answers of the arm": (6, 6),
        "eap-ig on arm: examples": (6, 6),
        "integrated-gradient passes": (2, 2),  # the last batch: 2 examples in 4 rows, so 2 steps per pass
        "head sweep on arm: heads": (arm.n_heads, arm.n_heads),
        "random component sets": (2, 2),
        "bootstrap resamples": (50, 50),
        "edge-patched passes on arm: examples": (6, 6),  # circuit, clean and reference side by side: 3 rows per example, each batch's reference captured with it
    }
    assert steps[0] == progress.Step("answers of the arm", 0, 6)  # a loop says its size before it starts


@pytest.mark.parametrize("terminal", [True, False], ids=["tty", "pipe"])
def test_mechtests_eval_draws_one_status_line_on_a_terminal_only(terminal, monkeypatch, isolated_cache) -> None:
    monkeypatch.delenv("CI", raising=False)
    subjects = {role: mechtests.load_subject(PAIR / role) for role in ("arm", "mdm")}
    stream = _Stream(terminal)
    monkeypatch.setattr(status_line, "INTERVAL_S", 0.0)
    with status_line.status_line(stream):
        report = evaluate_pair(subjects, n=20, seed=0, only=["ioi"])
    assert report["tasks"]["ioi"]["arm"]["correct"] >= 0
    out = stream.getvalue()
    if not terminal:
        assert out == ""
        return
    assert "\r\x1b[Kioi (arm) · answers of the arm 0/" in out and "ioi (mdm) · answers of the mdm" in out
    assert out.endswith("\r\x1b[K")  # the line is erased when the work ends


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


class _Stream(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal
