"""Parts of a hypothesis (mechtests.plugin.parts): spread over xdist workers, one verdict kept."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import mechtests
from mechtests.errors import MechtestsError
from mechtests.plugin import parts
from mechtests.testing.suite import stable_view

# A stand-in for the disk cache: a part or the hypothesis computes a value once and leaves it in
# a file; whoever comes later reads it. The log says which process computed what.
SUITE = '''
import os
from functools import partial
from pathlib import Path

import mechtests
from mechtests.claims.outcomes import NotApplicable

TASKS = ("ioi", "countdown", "empty")


def measured(kind, task):
    if task == "empty":
        raise NotApplicable(f"{task}: no pool")
    if task == os.environ.get("MECH_BROKEN_TASK"):
        raise RuntimeError(f"{task}: broken measurement")
    path = Path(os.environ["MECH_CACHE"]) / f"{kind}-{task}"
    if not path.exists():
        with open(os.environ["MECH_PART_LOG"], "a") as fh:
            fh.write(f"{kind}-{task} {os.environ.get('PYTEST_XDIST_WORKER', 'main')}\\n")
        path.write_text(str(len(task) * (2 if kind == "mdm" else 1)))
    return float(path.read_text())


def _measure(subject, *, task):
    measured(subject.kind, task)


def _measure_both(pair, *, task):
    for model in pair:
        measured(model.kind, task)


@mechtests.hypothesis(claim="each task measures", parts={t: partial(_measure, task=t) for t in TASKS})
def test_per_model(subject):
    for task in TASKS[:2]:
        mechtests.record(task, measured(subject.kind, task))


@mechtests.hypothesis(claim="both models measure", parts={t: partial(_measure_both, task=t) for t in TASKS[:2]})
def test_pair_level(pair):
    mechtests.record("sum", sum(measured(m.kind, t) for m in pair for t in TASKS[:2]), threshold=0.0)


def test_plain(subject):
    pass
'''


@pytest.fixture
def parted(suite, monkeypatch, tmp_path):
    suite.write(test_parted=SUITE)
    monkeypatch.setenv("MECH_PART_LOG", str(tmp_path / "parts.log"))
    monkeypatch.setenv("MECH_CACHE", str(tmp_path / "cache"))

    def run(*args: str):
        (tmp_path / "cache").mkdir(exist_ok=True)
        for stale in (tmp_path / "cache").iterdir():
            stale.unlink()
        (tmp_path / "parts.log").write_text("")
        return suite.run(*args)

    return run, lambda: (tmp_path / "parts.log").read_text().split()


def test_parts_run_first_under_workers_and_leave_the_results_as_without(suite, parted) -> None:
    run, log = parted
    serial = run("-n", "0", "-v")
    assert serial.ret == 0
    assert "part:" not in serial.stdout.str()  # nothing to spread in one process
    expected = stable_view(suite.results())
    spread = run("-n", "2", "--mech-split-pair=yes", "-v", "-rs")
    assert spread.ret == 0
    out = spread.stdout.str()
    # one item per part and model, the ones without a pool skipped with the reason
    for part in ("test_per_model[arm-part:ioi]", "test_per_model[mdm-part:countdown]", "test_pair_level[part:ioi]"):
        assert f"PASSED test_parted.py::{part}" in out, part
    assert "empty: no pool" in out and "2 skipped" in out
    assert stable_view(suite.results()) == expected  # no result for a part, and the same numbers
    computed = log()[::2]
    assert sorted(computed) == ["arm-countdown", "arm-ioi", "mdm-countdown", "mdm-ioi"]  # each once


@pytest.mark.parametrize("split, workers, active", [(True, 2, True), (False, 2, False), (True, 1, False), (True, None, False)])
def test_parts_are_items_only_when_pair_work_is_split_over_two_or_more_workers(split, workers, active) -> None:
    config = SimpleNamespace() if workers is None else SimpleNamespace(workerinput={"workercount": workers})
    assert parts.active(config, split) is active  # None: the controller or a run without xdist


def test_a_broken_part_fails_and_the_hypothesis_errors(suite, parted, monkeypatch) -> None:
    run, _ = parted
    monkeypatch.setenv("MECH_BROKEN_TASK", "countdown")
    result = run("-n", "2", "--mech-split-pair=yes", "-v")
    assert result.ret == 1
    assert "FAILED test_parted.py::test_pair_level[part:countdown]" in result.stdout.str()
    assert suite.outcomes()["parted.pair_level"] == {"pair": "error"}  # a part never makes the verdict


def test_selecting_a_hypothesis_keeps_its_key_and_its_parts(suite, parted) -> None:
    run, log = parted
    result = run("-n", "2", "--mech-split-pair=yes", "-v", "-k", "pair_level")
    assert result.ret == 0 and "test_pair_level[part:ioi]" in result.stdout.str()
    assert "test_per_model[arm-part:ioi]" not in result.stdout.str()
    outcomes = suite.outcomes()
    assert outcomes["parted.pair_level"] == {"pair": "holds"}
    assert outcomes["parted.per_model"] == {"arm": "not_selected", "mdm": "not_selected"}


def test_in_a_one_model_run_the_pair_parts_are_skipped_with_the_reason(suite, parted) -> None:
    run, _ = parted
    result = run("-n", "2", "--mech-split-pair=yes", "--mdm=none", "-v", "-rs")
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "SKIPPED test_parted.py::test_pair_level[part:ioi]" in out  # xdist suffixes the id with the group
    assert "there is no MDM" in out and " error" not in out


@pytest.mark.parametrize("parts", [{"": print}, {"a[1]": print}, {"a": 3}, ["a"]])
def test_bad_parts_are_refused_with_the_fix(parts) -> None:
    with pytest.raises(MechtestsError, match="part"):
        mechtests.hypothesis(parts=parts)
