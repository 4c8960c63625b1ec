"""The acceptance simulation of issue #26: sequential decisions keep the error rate and save
examples where the evidence is clear (no model; seconds).

Each simulated run draws a pool of 500 per-example values (unit variance) whose true mean lies
`effect` standard errors of the full pool (1 / sqrt(500)) above the bar 0.5, and decides the
claim `estimate >= 0.5` through mechtests.stats.sequential exactly as a hypothesis does: an
estimate grown look by look (64, 128, 256 and 500 examples; the look at 32 cannot decide under
O'Brien-Fleming-type spending). The estimate at a look is the mean of its first n values with
its normal-approximation 95% interval, the interval the bootstrap approximates, so that 1000
runs take seconds.

Results (seed 0, 1000 runs each; printed by the test):
- at the bar the claim is true (the effect is at least the bar), and it was wrongly decided
  `fails` in 1.9% of runs, under the nominal 5%; any decisive verdict: 5.2% (the full-sample
  interval alone on the same pools: 5.1%; in theory 5.15% against 5%, the interim looks'
  O'Brien-Fleming spending on top of the last look's ordinary interval).
- the mean share of the pool used falls with the effect (in SE of the full pool): 0.99 at 1,
  0.97 at 2, 0.90 at 3, 0.77 at 4, 0.63 at 5, 0.53 at 6, 0.46 at 7 (where it first drops to at
  most half), 0.40 at 8, 0.31 at 10, 0.22 at 15, 0.15 at 20. The issue's target, half the pool
  at 2 SE, is out of reach of any rule that keeps the error rate across looks (Pocock-type
  spending uses 0.88 of the pool there, and even an uncorrected 1.96 at every look 0.72): an
  effect of 2 SE is only just decidable with the whole pool.
"""

from __future__ import annotations

import numpy as np

from mechtests.claims.outcomes import FAILS, HOLDS
from mechtests.stats import Estimate, decide, sequential

POOL, BAR, RUNS = 500, 0.5, 1000
SE = 1.0 / np.sqrt(POOL)
Z95 = 1.959964


def _normal_estimate(values: np.ndarray) -> Estimate:
    half = Z95 * values.std(ddof=1) / np.sqrt(len(values))
    mean = float(values.mean())
    return Estimate(value=mean, lo=mean - half, hi=mean + half, seed=0, n=len(values), name="effect")


def _simulate(effect: float, rng: np.random.Generator) -> tuple[list[str], list[int], list[str]]:
    """(verdicts, examples used, the full-sample verdicts on the same pools) of RUNS runs."""
    verdicts, used, full = [], [], []
    for _ in range(RUNS):
        values = rng.normal(BAR + effect * SE, 1.0, POOL)
        with sequential.using(True):
            est = sequential.grown(lambda n: _normal_estimate(values[:n]), POOL, first_round=32)
        decision = decide(est, ">=", BAR)
        verdicts.append(decision.verdict)
        used.append(decision.estimate.n)
        full.append(decide(_normal_estimate(values), ">=", BAR).verdict)
    return verdicts, used, full


def test_at_the_bar_wrong_verdicts_stay_under_the_nominal_rate_and_the_whole_pool_is_used() -> None:
    verdicts, used, full = _simulate(0.0, np.random.default_rng(0))
    wrong = verdicts.count(FAILS) / RUNS  # the effect is at the bar: `>= bar` is true, so fails is wrong
    decisive = (verdicts.count(FAILS) + verdicts.count(HOLDS)) / RUNS
    full_decisive = (full.count(FAILS) + full.count(HOLDS)) / RUNS
    print(f"at the bar: wrong {wrong:.3f}, decisive {decisive:.3f} (full sample {full_decisive:.3f}), "
          f"share used {np.mean(used) / POOL:.2f}")
    assert wrong <= 0.05
    assert np.mean(used) / POOL >= 0.95  # no early stop on noise: nearly every run looks at the whole pool


def test_the_share_used_falls_with_the_effect_to_half_the_pool_at_seven_standard_errors() -> None:
    rng = np.random.default_rng(0)
    table = {}
    for effect in (1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20):
        verdicts, used, _ = _simulate(float(effect), rng)
        assert verdicts.count(FAILS) / RUNS <= 0.05  # the effect is above the bar: fails is wrong
        table[effect] = float(np.mean(used)) / POOL
    print("effect (SE of the full pool) -> mean share of the pool used:",
          ", ".join(f"{e}: {share:.2f}" for e, share in table.items()))
    first_half = min(e for e, share in table.items() if share <= 0.5)
    assert first_half == 7 and table[2] > 0.9  # as the docstring states: 2 SE needs nearly the whole pool
    assert table[20] <= 0.2
