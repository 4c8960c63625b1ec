"""One-model runs: `--mdm=none`, `--arm=none`, or a pair that declares one model.

Per-model hypotheses run on the model there is; the other model's column and every
pair-level hypothesis are not applicable, with the reason; the report says what ran.
"""

from __future__ import annotations

import pytest

SUITE = '''
import mechtests


@mechtests.hypothesis(expect={"arm": "holds", "mdm": "holds"})
def test_per_model(subject):
    mechtests.record("is an ARM", float(subject.kind == "arm"))
    assert subject.kind in ("arm", "mdm")


@mechtests.hypothesis(expect={"pair": "holds"})
def test_pair_level(pair):
    assert pair.arm.kind == "arm"
'''


def test_mdm_none_runs_per_model_hypotheses_on_the_arm_only(suite) -> None:
    suite.write(test_one=SUITE)
    result = suite.run("--mdm=none")
    assert result.ret == 0, result.stdout.str()
    assert suite.outcomes() == {
        "one.per_model": {"arm": "holds", "mdm": "not_applicable"},
        "one.pair_level": {"pair": "not_applicable"},
    }
    results = suite.results()
    assert results["run"]["pair"] == "fake with mdm=none"
    assert results["run"]["budget"]["name"] == "default"
    reasons = {h["key"]: h["results"] for h in results["hypotheses"]}
    assert "one-model run: there is no MDM (--mdm=none)" in str(reasons["one.per_model"]["mdm"])
    assert "pair-level hypothesis in a one-model run" in str(reasons["one.pair_level"]["pair"])


def test_arm_none_keeps_the_mdm(suite) -> None:
    suite.write(test_one=SUITE)
    result = suite.run("--arm=none")
    assert result.ret == 0, result.stdout.str()
    assert suite.outcomes()["one.per_model"] == {"arm": "not_applicable", "mdm": "holds"}


def test_a_pair_that_declares_one_model_is_a_one_model_run(suite) -> None:
    suite.pytester.makepyprojecttoml('''
[tool.mechtests]
pair = "solo"
[tool.mechtests.pairs.solo]
budget = "quick"
[tool.mechtests.pairs.solo.arm]
path = "models/arm"
kind = "arm"
''')
    suite.write(test_one=SUITE)
    result = suite.run()
    assert result.ret == 0, result.stdout.str()
    assert suite.outcomes()["one.pair_level"] == {"pair": "not_applicable"}
    results = suite.results()
    assert results["run"]["pair"] == "solo" and results["run"]["budget"]["name"] == "quick"
    assert "pair 'solo' declares no mdm" in str(results["hypotheses"])


@pytest.mark.parametrize("argv, words", [
    (["--mech-budget=fast"], "--mech-budget: unknown budget 'fast'; use one of default, paper, quick"),
    (["--arm=pkg:no_such_package_xyz/m.gguf"], "--arm: package 'no_such_package_xyz'"),
])
def test_bad_budget_or_location_is_a_usage_error(suite, argv, words) -> None:
    suite.write(test_one=SUITE)
    result = suite.run(*argv)
    assert result.ret == 4
    assert words in result.stderr.str()


def test_the_budget_is_active_in_every_test(suite) -> None:
    suite.write(test_budget='''
import mechtests
from mechtests.run import budget


@mechtests.hypothesis(expect={"arm": "holds", "mdm": "holds"})
def test_budget(subject, mech_budget):
    assert budget.active() is mech_budget and mech_budget.name == "paper"
''')
    result = suite.run("--mech-budget=paper")
    assert result.ret == 0, result.stdout.str()
    assert suite.results()["run"]["budget"]["fixed_k"] == 1000


def test_the_gate_against_a_full_baseline_of_the_same_arm_passes(suite) -> None:
    suite.write(test_one=SUITE)
    full = suite.run("--mech-save-baseline=baseline.json")
    assert full.ret == 0, full.stdout.str()
    one = suite.run("--mdm=none", "--mech-baseline=baseline.json")
    assert one.ret == 0, one.stdout.str()
    gate = suite.results()["baseline"]
    # the MDM's result and the pair-level one are not applicable here: not compared, never a change
    assert not gate["changed"] and gate["compared"] == 1 and len(gate["not_compared"]) == 2, gate
    assert "no verdict changed" in one.stdout.str()
