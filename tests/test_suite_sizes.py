"""The hypothesis suites take every size from the run budget, so `--mech-budget=quick` shrinks
what they measure and `default` keeps the bundled pair's sizes."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mechtests.run import budget as run_budget

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "suites").glob("test_*.py"))
EXAMPLES = re.compile(r"tasks|examples|pool")  # what a sliced list of examples is called (not a (layer, head) tuple)
SIZE_KEYWORDS = {"n", "size", "max_examples", "n_controls", "n_resamples", "n_null", "steps", "candidates"}


def _literal_sizes(path: Path) -> list[str]:
    """Integer literals where a suite sets how much to measure: a slice bound of a list of
    examples, a size keyword, or a TaskSet's positional candidate count."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and EXAMPLES.search(ast.unparse(node.value)):
            bounds = (node.slice.lower, node.slice.upper)
            found += [f"{path.name}:{node.lineno} {ast.unparse(node)}" for b in bounds if isinstance(b, ast.Constant)]
        elif isinstance(node, ast.keyword) and node.arg in SIZE_KEYWORDS and isinstance(node.value, ast.Constant):
            found.append(f"{path.name}:{node.value.lineno} {node.arg}={node.value.value}")
    return found


def test_no_suite_hard_codes_a_size():
    assert SUITES
    assert [hit for path in SUITES for hit in _literal_sizes(path)] == []


def test_the_check_catches_a_hard_coded_size(tmp_path):
    suite = tmp_path / "test_x.py"
    suite.write_text("def test(tasks, study, ranked):\n    study.own_pool(1, 2, tasks.ioi[:200], size=50)\n    return ranked[0][:2]\n")
    assert _literal_sizes(suite) == ["test_x.py:2 tasks.ioi[:200]", "test_x.py:2 size=50"]


def test_quick_is_smaller_than_default_in_every_size():
    default, quick = run_budget.DEFAULT, run_budget.BUDGETS["quick"]
    assert (default.check_pool, default.property_examples) == (200, 40)  # the sizes the suites hard-coded before
    for size in ("candidates", "pool_size", "check_pool", "ig_steps", "bootstrap_draws", "control_draws", "control_cap",
                 "property_examples"):
        assert getattr(quick, size) < getattr(default, size), size
    assert default.shrink and not quick.shrink  # a counterexample's shrinking costs minutes on a real model


@pytest.mark.skipif(not (ROOT / "fixtures" / "tiny-pair" / "arm" / "config.json").is_file(), reason="fixtures/tiny-pair is not built")
def test_quick_reaches_the_property_suite(tmp_path):
    """The property test generates the budget's number of spans and picks its head on the budget's check pool."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MECHTESTS_CACHE_DIR=str(tmp_path / "cache"))
    command = [sys.executable, "-m", "pytest", "suites/test_copying_property.py", "--mdm=none", "--mech-budget=quick",
               "-p", "no:xdist", "-p", "no:randomly", "-q", f"--mech-report={tmp_path / 'reports'}"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (hypothesis,) = json.loads((tmp_path / "reports" / "results.json").read_text())["hypotheses"]
    evidence = {e["name"]: e for e in hypothesis["results"]["arm"]["evidence"]}
    quick = run_budget.BUDGETS["quick"]
    assert evidence["examples tried"]["value"] == quick.property_examples
    assert evidence["examples tried"]["extra"] == {"max_examples": quick.property_examples}
