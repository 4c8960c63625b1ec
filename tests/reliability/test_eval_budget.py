"""`mechtests eval` and `mechtests tasks` follow the run budget as the suites do (issue #27 point 1):
the pair table's `budget` sets the candidates per task, by the one precedence, and eval's answers
are the cache entries the suites' pools read, so a later `pytest suites/` does not score them again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mechtests
from mechtests import study
from mechtests.cli import main as cli_main
from mechtests.run import cache
from mechtests.run.budget import BUDGETS
from mechtests.tasks import TaskSet

TINY = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"
QUICK = BUDGETS["quick"].candidates


@pytest.fixture
def quick_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> Path:
    """A project whose default pair is the bundled one under `budget = "quick"`, as the working directory."""
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.mechtests]\npair = "small"\n[tool.mechtests.pairs.small]\nbudget = "quick"\n'
        f'arm = "{TINY / "arm"}"\nmdm = "{TINY / "mdm"}"\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _eval(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert cli_main(["eval", "--json", "--task", "ioi", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_draws_the_candidates_of_the_pair_tables_budget(quick_project, capsys) -> None:
    report = _eval(capsys)
    assert (report["budget"], report["n"], report["tasks"]["ioi"]["candidates"]) == ("quick", QUICK, QUICK)
    overridden = _eval(capsys, "--mech-budget", "default")  # the command line wins over the pair table
    assert (overridden["budget"], overridden["n"]) == ("default", BUDGETS["default"].candidates)
    assert _eval(capsys, "--n", "30")["n"] == 30  # --n names the count itself


def test_tasks_shows_the_candidates_of_the_pair_tables_budget(quick_project, capsys) -> None:
    assert cli_main(["tasks", "--task", "ioi", "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert f"seed 0, {QUICK} candidates per task (quick budget):" in out
    assert f"ioi (prefix-dominant): {QUICK} of {QUICK} candidates kept" in out


def test_after_eval_the_suites_pools_read_its_answers_from_the_cache(quick_project, capsys, monkeypatch) -> None:
    """The suites load each model with device and dtype auto and draw the budget's candidates in the
    ARM's tokenizer (mechtests.plugin.loading, mechtests.plugin.fixtures.mech_tasks); with eval's
    entries on disk, their pools need no forward pass at all."""
    report = _eval(capsys)
    cache.clear_memory()  # a later process: only the disk holds eval's answers
    scored: list[str] = []
    evaluate = study.evaluate

    def counting(subject, examples):
        scored.append(subject.kind)
        return evaluate(subject, examples)

    monkeypatch.setattr(study, "evaluate", counting)
    arm, mdm = (mechtests.load_subject(TINY / role, device="auto", dtype="auto") for role in ("arm", "mdm"))
    examples = TaskSet(arm.tokenizer, n=QUICK, seed=0)["ioi"]
    both = study.correctness(arm, "ioi", examples) & study.correctness(mdm, "ioi", examples)
    assert scored == []
    assert int(both.sum()) == report["tasks"]["ioi"]["common_correct"]
    assert int(study.correctness(arm, "ioi", examples).sum()) == report["tasks"]["ioi"]["arm"]["correct"]
