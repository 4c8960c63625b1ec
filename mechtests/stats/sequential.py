"""Sequential decisions: measure a claim's sample in growing rounds and stop once it is decided.

The rule is a two-sided group-sequential test with Lan-DeMets alpha spending (Lan and DeMets
1983, "Discrete sequential boundaries for clinical trials", Biometrika 70(3); boundaries by the
recursive numerical integration of Armitage, McPherson and Rowe 1969, as in Jennison and
Turnbull 2000, "Group Sequential Methods with Applications to Clinical Trials", ch. 7 and 19).
Looks come at n = first_round, 2 x, 4 x, ... examples and at the whole pool; at look k of K
the information fraction is t_k = n_k / pool. At every look but the last the estimate's 95%
bootstrap interval is widened to the look's boundary z_k (z_k / 1.96 times each half-width),
and a verdict is reached when that interval is clear of the bar. The last look is the
ordinary full-sample 95% interval, exactly as without sequential decisions, so a claim whose
evidence never settles early is judged as before.

The spending function is O'Brien-Fleming-type (alpha / 2 a side, each side spent as
2 - 2 Phi(z_{1 - alpha / 4} / sqrt(t))): it spends almost nothing at small t, so an early stop
needs an effect far from its bar. With the last look's ordinary interval on top, a claim whose
true value is at its bar is decided either way in 5.15% of runs instead of 5% (the wrong way, a
`fails` of a true `>=`, in about 2.5%); tests/stats/test_sequential_simulation.py measures this
and the share of the pool used. `grown` makes such an estimate (mechtests.stats.Estimate's
`growth`), from a function that measures the statistic on the first n examples.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from statistics import NormalDist
from typing import Any, Callable, ContextManager

import numpy as np
import torch

from mechtests.claims.outcomes import INCONCLUSIVE
from mechtests.errors import MechtestsError
from mechtests.run import budget as run_budget
from mechtests.run.budget import Budget
from mechtests.stats.estimate import Estimate, decide

NORMAL = NormalDist()
GRID = 2001  # points per look in the numerical integration of the boundaries


def looks(first_round: int, pool: int) -> list[int]:
    """The sample sizes of the looks: first_round, doubled while below the pool, then the pool."""
    if first_round < 1 or pool < 1:
        raise MechtestsError(f"a sequential design needs a first round and a pool of at least 1, got {first_round} and {pool}",
                             "pass e.g. first_round=32 and the pool's size")
    sizes = []
    n = first_round
    while n < pool:
        sizes.append(n)
        n *= 2
    return [*sizes, pool]


def obrien_fleming_spent(t: float, alpha: float) -> float:
    """The two-sided type I error spent by information fraction t: alpha / 2 on each side, spent
    by the one-sided O'Brien-Fleming-type function 2 - 2 Phi(z_{1 - alpha / 4} / sqrt(t)) (Lan and
    DeMets 1983; the convention of the published tables, e.g. 4.877, 3.357, 2.680, 2.290, 2.031
    for five equal looks at alpha 0.05)."""
    if t <= 0:
        return 0.0
    return 2.0 * (2.0 - 2.0 * NORMAL.cdf(NORMAL.inv_cdf(1.0 - alpha / 4.0) / math.sqrt(min(t, 1.0))))


def boundaries(fractions: tuple[float, ...], alpha: float = 0.05,
               spent: Callable[[float, float], float] = obrien_fleming_spent) -> list[float]:
    """Two-sided z boundaries c_k such that P(|Z_j| < c_j for j < k, |Z_k| >= c_k) under no effect
    is the alpha spent between t_{k-1} and t_k (Z_k the standardised statistic at fraction t_k).

    The density of the score S_k = Z_k sqrt(t_k) on the continuation region is carried from look
    to look on a grid (Jennison and Turnbull 2000, sec. 19.2)."""
    if not fractions or any(b <= a for a, b in zip(fractions, fractions[1:])) or not 0 < fractions[0] or fractions[-1] > 1:
        raise MechtestsError(f"information fractions must increase within (0, 1], got {fractions}", "pass e.g. (0.25, 0.5, 1.0)")
    out: list[float] = []
    grid = density = None
    previous_t = previous_spent = 0.0
    for t in fractions:
        target = spent(t, alpha) - previous_spent
        if grid is None:
            c = NORMAL.inv_cdf(1.0 - target / 2.0) if target > 0 else math.inf
        else:
            c = _solve(lambda z: _crossing(grid, density, t - previous_t, z * math.sqrt(t)), target)
        out.append(c)
        grid, density = _carry(grid, density, t - previous_t, min(c, 40.0) * math.sqrt(t))
        previous_t, previous_spent = t, spent(t, alpha)
    return out


def _crossing(grid: np.ndarray, density: np.ndarray, step: float, edge: float) -> float:
    """P(no stop so far, |S_k| >= edge), S_k = S_{k-1} + N(0, step)."""
    sd = math.sqrt(step)
    tails = _cdf((grid - edge) / sd) + _cdf((-edge - grid) / sd)
    return float(np.trapezoid(density * tails, grid))


def _cdf(x: np.ndarray) -> np.ndarray:
    """The standard normal distribution function, elementwise (float64)."""
    return torch.special.ndtr(torch.from_numpy(x)).numpy()


def _carry(grid: np.ndarray | None, density: np.ndarray | None, step: float, edge: float) -> tuple[np.ndarray, np.ndarray]:
    """The density of the score at the next look, on (-edge, edge) (where no verdict was reached)."""
    new = np.linspace(-edge, edge, GRID)
    if grid is None:
        return new, np.exp(-new**2 / (2 * step)) / math.sqrt(2 * math.pi * step)
    kernel = np.exp(-((new[:, None] - grid[None, :]) ** 2) / (2 * step)) / math.sqrt(2 * math.pi * step)
    return new, np.trapezoid(kernel * density[None, :], grid, axis=1)


def _solve(crossing: Callable[[float], float], target: float) -> float:
    """The z whose crossing probability is `target` (bisection; crossing falls as z grows)."""
    if target <= 0:
        return math.inf
    lo, hi = 0.0, 40.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if crossing(mid) > target else (lo, mid)
    return (lo + hi) / 2


@functools.lru_cache(maxsize=64)
def design(pool: int, first_round: int, level: float = 0.95) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(sizes, z) of the looks: each interim look's boundary, then the last look's ordinary z.
    An interim look whose boundary is infinite (no alpha is spent there at double precision:
    O'Brien-Fleming-type spending at a small fraction) could never decide, so it is not made."""
    sizes = looks(first_round, pool)
    z = boundaries(tuple(n / pool for n in sizes), alpha=1.0 - level)
    interim = [(n, c) for n, c in zip(sizes[:-1], z[:-1]) if math.isfinite(c)]
    return tuple([n for n, _ in interim] + [pool]), tuple([c for _, c in interim] + [NORMAL.inv_cdf(0.5 + level / 2.0)])


def widened(est: Estimate, z: float) -> Estimate:
    """The estimate with each half-width of its interval scaled from its level's z to `z`: the
    interval a look with boundary `z` decides on (its level 2 Phi(z) - 1)."""
    base = NORMAL.inv_cdf(0.5 + est.level / 2.0)
    scale = z / base
    return replace(est, lo=est.value - (est.value - est.lo) * scale, hi=est.value + (est.hi - est.value) * scale,
                   level=2.0 * NORMAL.cdf(z) - 1.0, growth=None)


class Rounds:
    """A statistic over a pool measured at the looks of `design` as comparisons ask for them.

    measure(n): the Estimate over the first n examples (memoised: each look is measured once);
    describe(n): further evidence of that look (e.g. the control draws it used)."""

    def __init__(self, measure: Callable[[int], Estimate], pool: int, first_round: int,
                 describe: Callable[[int], dict[str, Any]] | None = None) -> None:
        self.sizes, self.z = design(pool, first_round)
        self.pool = pool
        self._measure, self._describe = measure, describe
        self._measured: dict[int, Estimate] = {}

    def at(self, n: int) -> Estimate:
        if n not in self._measured:
            self._measured[n] = self._measure(n)
        return self._measured[n]

    def settle(self, op: str, bar: Any) -> tuple[Estimate, dict[str, Any]]:
        """The estimate that decides `est <op> bar` and the evidence of how it was reached: the
        first interim look whose widened interval is clear of the bar, else the whole pool."""
        last = len(self.sizes) - 1
        for k, (n, z) in enumerate(zip(self.sizes, self.z)):
            est = self.at(n) if k == last else widened(self.at(n), z)
            if k == last or decide(est, op, bar).verdict != INCONCLUSIVE:
                return est, self._note(k, n, z)
        raise AssertionError("unreachable: the last look always decides")

    def whole(self) -> Estimate:
        """The full-sample estimate (for arithmetic, which has no bar to stop at)."""
        return self.at(self.pool)

    def _note(self, k: int, n: int, z: float) -> dict[str, Any]:
        looks = len(self.sizes)
        why = ("pool exhausted" if k == looks - 1 else "decided") + f" at look {k + 1} of {looks}: n={n} of {self.pool}"
        if k < looks - 1:
            why += f" (interval widened to z={z:.2f})"
        extra = self._describe(n) if self._describe is not None else {}
        return {"sequential": why, "examples_used": n, "examples_pool": self.pool, **extra}


def grown(measure: Callable[[int], Estimate], pool: int, first_round: int | None = None,
          describe: Callable[[int], dict[str, Any]] | None = None) -> Estimate:
    """The estimate of a statistic over a pool of examples, from `measure(n)` (the statistic over
    the first n): with sequential decisions on, measured at the first look and grown look by look
    when compared with a bar (`Rounds.settle`); off (or a pool no larger than the first round),
    measure(pool), exactly as a full-sample measurement."""
    first_round = run_budget.active().first_round if first_round is None else first_round
    if not active() or pool <= first_round:
        return measure(pool)
    rounds = Rounds(measure, pool, first_round, describe)
    return replace(rounds.at(rounds.sizes[0]), growth=rounds)


# --- whether a run decides sequentially -----------------------------------------------------
def active() -> bool:
    """Whether measurements decide in rounds: the active budget's `sequential`, which the plugin
    sets from --mech-sequential when it is given (mechtests.plugin.fixtures.mech_budget)."""
    return run_budget.active().sequential


def using(flag: bool) -> ContextManager[Budget]:
    """Run a block with sequential decisions on or off, the rest of the active budget unchanged."""
    return run_budget.using(replace(run_budget.active(), sequential=flag))
