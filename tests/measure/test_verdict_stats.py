"""Decisions on intervals (issue #12): a ratio whose interval straddles its bar is inconclusive,
one clear of it holds or fails; control draws widen the interval they add noise to."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mechtests.errors import MechtestsError
from mechtests.claims.outcomes import FAILS, HOLDS, INCONCLUSIVE, ClaimFailed, Inconclusive, Parts
from mechtests.stats import bootstrap, bootstrap_with_controls, draws_halfwidth, independent_difference, mean_of_defined, ratio_of_means

BAR = 2.0  # "at least twice the random controls' drop"


def _ablation(target_mean: float, n_examples: int = 200, n_draws: int = 20, draw_spread: float = 0.0, seed: int = 0):
    """Synthetic per-example drops: the target's (B,), and random controls' (n_draws, B) with mean 1."""
    rng = np.random.default_rng(seed)
    target = rng.normal(target_mean, 0.5, size=n_examples)
    offsets = rng.normal(0.0, draw_spread, size=(n_draws, 1))  # how much one random set differs from another
    controls = 1.0 + offsets + rng.normal(0.0, 0.5, size=(n_draws, n_examples))
    return target, controls


def _verdict(target, controls) -> tuple[str, float, float, float]:
    ratio = bootstrap_with_controls(target, controls=controls, statistic=ratio_of_means, seed=0)
    parts = Parts()
    return parts.check("ratio to random", ratio.lo, ratio.hi, BAR, value=ratio.value), ratio.value, ratio.lo, ratio.hi


def test_a_ratio_straddling_its_bar_is_inconclusive():
    verdict, value, lo, hi = _verdict(*_ablation(target_mean=2.0, draw_spread=0.3))
    assert lo < BAR <= hi and verdict == INCONCLUSIVE
    parts = Parts()
    parts.check("ratio", lo, hi, BAR)
    with pytest.raises(Inconclusive, match="inconclusive"):
        parts.conclude()


def test_a_ratio_clear_of_its_bar_holds_or_fails():
    verdict, _, lo, _ = _verdict(*_ablation(target_mean=3.0))
    assert lo >= BAR and verdict == HOLDS
    verdict, _, _, hi = _verdict(*_ablation(target_mean=1.2))
    assert hi < BAR and verdict == FAILS
    parts = Parts()
    parts.check("ratio", 1.0, 1.5, BAR)
    with pytest.raises(ClaimFailed):
        parts.conclude()


def test_resampling_the_control_draws_widens_the_interval():
    """Control sets that differ from one another add noise that an examples-only bootstrap of
    the controls' mean hides; the joint bootstrap shows it."""
    target, controls = _ablation(target_mean=2.0, draw_spread=0.3, n_draws=10)
    joint = bootstrap_with_controls(target, controls=controls, statistic=ratio_of_means, seed=1)
    examples_only = bootstrap(target, controls.mean(0), statistic=ratio_of_means, seed=1)
    assert joint.value == pytest.approx(examples_only.value)
    assert joint.hi - joint.lo > 1.5 * (examples_only.hi - examples_only.lo)
    assert joint == bootstrap_with_controls(target, controls=controls, statistic=ratio_of_means, seed=1)


def test_controls_must_match_the_examples():
    with pytest.raises(MechtestsError, match="one row per control draw"):
        bootstrap_with_controls(np.ones(5), controls=np.ones(5), statistic=ratio_of_means)
    with pytest.raises(MechtestsError, match="differ from the controls"):
        bootstrap_with_controls(np.ones(4), controls=np.ones((3, 5)), statistic=ratio_of_means)


def test_draws_halfwidth_shrinks_with_more_draws():
    rng = np.random.default_rng(0)
    few, many = rng.normal(1.0, 0.3, size=10), rng.normal(1.0, 0.3, size=1000)
    assert draws_halfwidth(few)[1] > 3 * draws_halfwidth(many)[1]
    assert draws_halfwidth(many)[1] == pytest.approx(1.96 * many.std(ddof=1) / np.sqrt(1000), rel=1e-3)
    assert draws_halfwidth([1.0])[1] == float("inf")


def test_independent_difference_covers_the_difference_of_means():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.3, 1.0, size=400), rng.normal(0.0, 1.0, size=300)
    est = independent_difference(a, b, seed=0)
    assert est.lo < est.value < est.hi and est.value == pytest.approx(a.mean() - b.mean())
    assert est.lo > 0  # 0.3 apart with these sizes: the interval is clear of zero


def test_mean_of_defined_is_nanmean_without_the_empty_slice_warning():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 4))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, 2] = np.nan  # a column with nothing defined
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = mean_of_defined(values, axis=0)
        nothing = mean_of_defined(np.full(3, np.nan))
    assert not seen
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(got, np.nanmean(values, axis=0))
    assert np.isnan(nothing)


def test_a_bootstrap_of_mostly_undefined_examples_warns_nothing():
    values = np.full(40, np.nan)
    values[:2] = (0.2, 0.4)  # resamples that draw neither example are skipped, silently
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        est = bootstrap(values, seed=0)
    assert not seen
    assert est.value == pytest.approx(0.3) and 0.2 <= est.lo <= est.hi <= 0.4
