"""Sequential decisions (issue #26): the looks, the Lan-DeMets boundaries, the estimate measured in
rounds (it stops early on a clear effect, uses the whole pool at the bar, and is the full-sample
estimate when sequential decisions are off) and --mech-sequential's parsing and resolution.

No model: the measurements are per-example values drawn from a seeded generator.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from mechtests.claims import evidence
from mechtests.claims.outcomes import FAILS, HOLDS, INCONCLUSIVE
from mechtests.errors import MechtestsError
from mechtests.run import budget as run_budget
from mechtests.run.command_line import add_options, given
from mechtests.run.settings import resolve
from mechtests.stats import Estimate, bootstrap, decide, sequential

POOL = 500


def test_looks_double_from_the_first_round_up_to_the_pool() -> None:
    assert sequential.looks(32, 500) == [32, 64, 128, 256, 500]
    assert sequential.looks(32, 64) == [32, 64] and sequential.looks(50, 50) == [50]
    with pytest.raises(MechtestsError, match="first round"):
        sequential.looks(0, 500)


def test_boundaries_match_the_published_lan_demets_tables() -> None:
    # Jennison and Turnbull 2000, table 7.6 / the ldbounds package: five equally spaced looks, two-sided alpha 0.05
    obrien_fleming = sequential.boundaries((0.2, 0.4, 0.6, 0.8, 1.0))
    assert np.allclose(obrien_fleming, [4.877, 3.357, 2.680, 2.290, 2.031], atol=2e-3)
    pocock_type = sequential.boundaries((0.2, 0.4, 0.6, 0.8, 1.0), spent=lambda t, a: a * np.log(1 + (np.e - 1) * t))
    assert np.allclose(pocock_type, [2.438, 2.427, 2.410, 2.397, 2.386], atol=2e-3)
    with pytest.raises(MechtestsError, match="increase"):
        sequential.boundaries((0.5, 0.5))


def test_the_boundaries_spend_exactly_alpha_over_all_looks() -> None:
    fractions = tuple(n / POOL for n in sequential.looks(32, POOL))
    z = np.array(sequential.boundaries(fractions))
    rng = np.random.default_rng(0)
    steps = rng.normal(size=(200_000, len(fractions))) * np.sqrt(np.diff((0.0, *fractions)))
    paths = np.cumsum(steps, axis=1) / np.sqrt(fractions)  # the z statistic at each look, no effect
    crossed = (np.abs(paths) >= z).any(axis=1).mean()
    assert abs(crossed - 0.05) < 0.003  # 200 000 paths: the binomial SE is 0.0005


def test_the_design_drops_looks_that_cannot_decide_and_ends_with_the_ordinary_interval() -> None:
    sizes, z = sequential.design(POOL, 32)
    assert sizes == (64, 128, 256, 500)  # at 32 of 500 O'Brien-Fleming spends no alpha in double precision
    assert z[0] > z[1] > z[2] > 2.5 and z[-1] == pytest.approx(1.959964, abs=1e-6)


def _measured(values: np.ndarray, calls: list[int]):
    def measure(n: int) -> Estimate:
        calls.append(n)
        return bootstrap(values[:n], seed=0, n_resamples=400, name="effect")
    return measure


def test_a_clear_effect_is_decided_at_an_early_look_with_its_evidence() -> None:
    values, calls = np.random.default_rng(1).normal(1.0, 1.0, POOL), []
    with sequential.using(True), evidence.collecting(lambda entry: None) as log:
        est = sequential.grown(_measured(values, calls), POOL)
        assert est.growth is not None and est.n == 64
        assert est >= 0.2
    assert calls == [64]
    (entry,) = log.entries
    assert entry["extra"]["sequential"].startswith("decided at look 1 of 4: n=64 of 500")
    assert entry["extra"]["examples_used"] == 64 and entry["extra"]["examples_pool"] == POOL
    assert entry["ci"][0] >= 0.2 and entry["threshold"] == 0.2
    assert evidence.describe(entry).endswith("vs threshold 0.2 (decided at look 1 of 4: n=64 of 500 (interval widened to z=6.16))")
    widened = est.growth.settle(">=", 0.2)[0]
    assert widened.hi - widened.lo > 3 * (est.hi - est.lo)  # decided on the look's boundary, not on 1.96


def test_an_effect_at_the_bar_uses_the_whole_pool_and_ends_as_the_full_sample_estimate() -> None:
    values, calls = np.random.default_rng(2).normal(0.0, 1.0, POOL), []
    full = bootstrap(values, seed=0, n_resamples=400, name="effect")
    with sequential.using(True), evidence.collecting(lambda entry: None, hypothesis=True) as log:
        est = sequential.grown(_measured(values, calls), POOL)
        recorded = evidence.record("effect", est)
        assert recorded["extra"]["sequential"].startswith("first look only: n=64")
        verdict = decide(est, ">=", float(values.mean()))
        assert calls == [64, 128, 256, 500] and verdict.verdict == INCONCLUSIVE
        assert (verdict.estimate.value, verdict.estimate.lo, verdict.estimate.hi) == (full.value, full.lo, full.hi)
        assert est >= float(values.mean())  # straddles: noted, and its record now holds the last look
    (entry,) = log.entries
    assert entry["extra"]["sequential"] == "pool exhausted at look 4 of 4: n=500 of 500" and entry["extra"]["n"] == POOL


def test_a_name_given_after_measuring_is_the_one_decided_and_recorded() -> None:
    """Several tasks' f at 20% share one measured name; each claim is renamed with its task, and
    the look that decides it keeps that name (session 12: the renamed claims were recorded under
    the shared name, one overwriting the next in the report)."""
    values, calls = np.random.default_rng(1).normal(1.0, 1.0, POOL), []
    with sequential.using(True), evidence.collecting(lambda entry: None) as log:
        ioi = sequential.grown(_measured(values, calls), POOL).named("ioi: effect")
        countdown = sequential.grown(_measured(values, calls), POOL).named("countdown: effect")
        assert decide(ioi, ">=", 0.2).estimate.name == "ioi: effect"
        assert (ioi >= 0.2) and (countdown >= 0.2)
    assert [entry["name"] for entry in log.entries] == ["ioi: effect", "countdown: effect"]


def test_off_the_estimate_is_the_full_sample_one_measured_once() -> None:
    values, calls = np.random.default_rng(3).normal(1.0, 1.0, POOL), []
    with sequential.using(False):
        est = sequential.grown(_measured(values, calls), POOL)
    assert calls == [POOL] and est.growth is None
    assert est == bootstrap(values, seed=0, n_resamples=400, name="effect")
    assert decide(est, ">=", 0.2).verdict == HOLDS and decide(est, "<", 0.2).verdict == FAILS


def test_arithmetic_on_an_estimate_in_rounds_uses_its_whole_pool() -> None:
    values, calls = np.random.default_rng(4).normal(1.0, 1.0, POOL), []
    with sequential.using(True):
        est = sequential.grown(_measured(values, calls), POOL)
        doubled = est * 2
    assert calls == [64, POOL] and doubled.n == POOL and doubled.growth is None


def _settings(tmp_path: Path, *argv: str, budget: str = "default"):
    parser = argparse.ArgumentParser()
    add_options(parser.add_argument, short=True)
    return resolve(given(vars(parser.parse_args([*argv, "--mech-budget", budget])).get), {}, tmp_path, tmp_path)


@pytest.mark.parametrize(("argv", "budget", "expected"), [
    ((), "default", True), ((), "quick", True), ((), "paper", False),
    (("--mech-sequential=off",), "default", False), (("--mech-sequential", "on"), "paper", True),
])
def test_the_flag_wins_else_the_budget_decides(tmp_path: Path, argv: tuple[str, ...], budget: str, expected: bool) -> None:
    settings = _settings(tmp_path, *argv, budget=budget)
    with run_budget.using(run_budget.with_sequential(settings.budget, settings["sequential"])):
        assert sequential.active() is expected


def test_a_bad_value_names_the_flag_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MechtestsError, match=r"--mech-sequential.*expected on or off, got 'maybe'"):
        _settings(tmp_path, "--mech-sequential=maybe")
