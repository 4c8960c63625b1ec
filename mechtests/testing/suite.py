"""A suite folder with a fake pair, run in a pytest subprocess: for testing the plugin itself.

The fake loader (a conftest override of `mech_loader`) returns a small object with the kind,
path and weights hash of a real Subject, so tests exercise the plugin's mechanics (the
matrix, the outcome table, reports, xdist, the baseline gate, bad options) without loading a
model. Use it through the `suite` fixture (pytest's `pytester` plugin must be active):

    from mechtests.testing.suite import suite  # noqa: F401 - the fixture

    def test_x(suite):
        suite.write(test_h="...")
        assert suite.run("--mech-seed", "1").ret == 0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FAKE_CONFTEST = '''
import os
from dataclasses import dataclass

import pytest


@dataclass
class FakeSubject:
    kind: str
    path: str
    weights_sha256: str
    tokenizer: object = None


@pytest.fixture(scope="session")
def mech_loader():
    def load(role, path):
        log = os.environ.get("MECH_LOAD_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(f"{role} {os.environ.get('PYTEST_XDIST_WORKER', 'main')}\\n")
        return FakeSubject(role, path, role[0] * 64)
    return load
'''

# What differs between two runs of the same code on the same models: when and how they ran.
VOLATILE_RUN_KEYS = ("started", "finished", "duration_s", "invocation")
VOLATILE_RESULT_KEYS = ("duration_s",)

PYPROJECT = '''
[tool.mechtests]
pair = "fake"
[tool.mechtests.pairs.fake]
arm = "models/arm"
mdm = "models/mdm"
'''


class Suite:
    """A pytester folder holding a suite; `run(...)` runs it in a subprocess and reads its report."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        pytester.makeconftest(FAKE_CONFTEST)
        pytester.makepyprojecttoml(PYPROJECT)

    def write(self, **modules: str) -> None:
        self.pytester.makepyfile(**modules)

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)

    @property
    def reports(self) -> Path:
        return self.pytester.path / "reports"

    def usage_error(self, *args: str) -> str:
        """Run with `args`, expecting a usage error: exit 4, one ERROR line, no report; that line."""
        result = self.run(*args)
        assert result.ret == 4, result.stdout.str() + result.stderr.str()
        errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
        assert len(errors) == 1, result.stderr.str()
        assert not (self.reports / "results.json").is_file()
        return errors[0]

    def results(self) -> dict[str, Any]:
        return json.loads((self.reports / "results.json").read_text())

    def outcomes(self) -> dict[str, dict[str, str]]:
        """{hypothesis key: {model: outcome}}"""
        return {h["key"]: {m: r["outcome"] for m, r in h["results"].items()} for h in self.results()["hypotheses"]}


def stable_view(results: dict[str, Any]) -> dict[str, Any]:
    """A copy of a results.json without timings and invocation: equal for equal verdicts and evidence."""
    out = json.loads(json.dumps(results))
    for key in VOLATILE_RUN_KEYS:
        out["run"].pop(key, None)
    for hyp in out["hypotheses"]:
        for res in hyp["results"].values():
            for key in VOLATILE_RESULT_KEYS:
                res.pop(key, None)
    return out


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Suite:
    """A pytester folder with the fake pair declared in pyproject.toml."""
    return Suite(pytester)
