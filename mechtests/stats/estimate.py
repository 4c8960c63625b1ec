"""Estimates that compare the way a claim means: `assert estimate >= bar` decides a hypothesis.

An Estimate is a value with its bootstrap interval, sample size, seed and name, and the
bootstrap draws behind the interval. Comparing it with a bar gives a three-way `Decision`,
judged on the interval (as pytest.approx lives in the comparison, so does the uncertainty here):

    assert best >= 0.4     # interval at or above 0.4: holds; below: fails; straddling: inconclusive

A Decision is truthy when the claim holds and falsy when it fails, so pytest's `assert` fails
the test; one that straddles its bar is noted with the running test (the plugin makes the
result inconclusive once the test has run, unless an assert failed: fails outranks
inconclusive) and is truthy, so the test goes on to its other claims. Outside a test, a
straddling Decision cannot be turned into a bool and raises Inconclusive.

Arithmetic between estimates keeps the right interval: estimates of the same sample (the same
examples, seed and resample count: their draws come from the same resample indices) combine
draw by draw, a paired bootstrap; estimates of different samples combine with the second's
draws in an independent order, so no pairing is invented (Efron and Tibshirani 1993, ch. 6-7).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import operator
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from mechtests.claims import evidence
from mechtests.claims.outcomes import FAILS, HOLDS, INCONCLUSIVE, Inconclusive, MeasurementError
from mechtests.errors import MechtestsError

OPS = (">=", ">", "<=", "<")  # the comparisons a claim may assert


def sample_key(examples: Any) -> str:
    """An identity for a set of examples (token sequences or a token tensor): estimates over the
    same examples carry the same key and combine paired."""
    digest = hashlib.sha1()
    if hasattr(examples, "detach"):
        digest.update(examples.detach().cpu().contiguous().numpy().tobytes())
    else:
        for example in examples:
            digest.update(repr(tuple(getattr(example, "tokens", example))).encode())
    return digest.hexdigest()[:16]


def new_sample() -> str:
    """An identity for a sample that nothing else shares: arithmetic treats it as independent."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Estimate:
    """A point value with a percentile bootstrap interval over examples.

    draws: the statistic on each bootstrap resample (kept for arithmetic, not recorded);
    sample: which examples and resample indices the draws come from (same sample: paired);
    growth: for an estimate measured in rounds (mechtests.stats.sequential.grown), what measures
    the further looks: a comparison with a bar settles on the look that decides it, arithmetic
    uses the whole pool; None: the values above are the whole measurement.
    """

    value: float
    lo: float
    hi: float
    seed: int
    level: float = 0.95
    n: int = 0
    n_resamples: int = 0
    name: str = ""
    draws: np.ndarray | None = field(default=None, repr=False, compare=False)
    sample: str = field(default_factory=new_sample, repr=False, compare=False)
    growth: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, float | int]:
        """The interval's JSON-able fields, as saved files (post-training cards) keep them."""
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "seed": self.seed, "level": self.level, "n": self.n,
                "n_resamples": self.n_resamples}

    def __float__(self) -> float:
        return self.value

    def named(self, name: str) -> Estimate:
        """The same estimate under the name a reader should see in the report."""
        return replace(self, name=name)

    def __str__(self) -> str:
        return f"{self.name + ': ' if self.name else ''}{self.value:.3g} [{self.lo:.3g}, {self.hi:.3g}]"

    # --- a claim against a bar --------------------------------------------------------------
    def __ge__(self, bar: Any) -> Decision:
        return _compare_and_record(self, ">=", bar)

    def __gt__(self, bar: Any) -> Decision:
        return _compare_and_record(self, ">", bar)

    def __le__(self, bar: Any) -> Decision:
        return _compare_and_record(self, "<=", bar)

    def __lt__(self, bar: Any) -> Decision:
        return _compare_and_record(self, "<", bar)

    # --- arithmetic with the right interval -------------------------------------------------
    def __add__(self, other: Any) -> Estimate:
        return combine(operator.add, self, other, "+")

    def __radd__(self, other: Any) -> Estimate:
        return combine(operator.add, other, self, "+")

    def __sub__(self, other: Any) -> Estimate:
        return combine(operator.sub, self, other, "-")

    def __rsub__(self, other: Any) -> Estimate:
        return combine(operator.sub, other, self, "-")

    def __mul__(self, other: Any) -> Estimate:
        return combine(operator.mul, self, other, "*")

    def __rmul__(self, other: Any) -> Estimate:
        return combine(operator.mul, other, self, "*")

    def __truediv__(self, other: Any) -> Estimate:
        return combine(operator.truediv, self, other, "/")

    def __rtruediv__(self, other: Any) -> Estimate:
        return combine(operator.truediv, other, self, "/")

    def __neg__(self) -> Estimate:
        return combine(operator.sub, 0.0, self, "-")


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` range of the bootstrap draws (NaN draws ignored; none finite: NaN)."""
    tail = (1.0 - level) / 2.0
    if not np.isfinite(draws).any():
        return float("nan"), float("nan")
    lo, hi = np.nanquantile(draws, [tail, 1.0 - tail])
    return float(lo), float(hi)


def combine(op: Callable[[Any, Any], Any], a: Any, b: Any, symbol: str) -> Estimate:
    """`a op b` for estimates (and plain numbers): the value from the values, the interval from
    the draws combined draw by draw (paired for the same sample, independent otherwise). An
    estimate measured in rounds enters with its whole pool: arithmetic has no bar to stop at."""
    a, b = (x.growth.whole() if isinstance(x, Estimate) and x.growth is not None else x for x in (a, b))
    first = a if isinstance(a, Estimate) else b
    for x in (a, b):
        if not isinstance(x, (Estimate, numbers.Real)) or isinstance(x, bool):
            raise TypeError(f"an Estimate combines with an Estimate or a number, not {type(x).__name__}")
        if isinstance(x, Estimate) and x.draws is None:
            raise MechtestsError(f"estimate {x.name or x} has no bootstrap draws to combine",
                                 "build it with mechtests.stats.bootstrap (or keep its draws)")
    da, db = (_draws_of(x, first) for x in (a, b))
    if isinstance(a, Estimate) and isinstance(b, Estimate):
        if a.level != b.level:
            raise MechtestsError(f"estimates at levels {a.level} and {b.level} cannot be combined", "bootstrap both at one level")
        if not same_sample(a, b):
            db = _independent_order(db, a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = np.asarray(op(da, db), dtype=np.float64)
        value = float(op(_value_of(a), _value_of(b)))
    lo, hi = percentile_interval(draws, first.level)
    both = [x for x in (a, b) if isinstance(x, Estimate)]
    n = both[0].n if len(both) == 1 or same_sample(*both) else both[0].n + both[1].n
    sample = both[0].sample if len(both) == 1 or same_sample(*both) else new_sample()
    name = f"{_label(a)} {symbol} {_label(b)}"
    return Estimate(value=value, lo=lo, hi=hi, seed=first.seed, level=first.level, n=n, n_resamples=len(draws),
                    name=name, draws=draws, sample=sample)


def same_sample(a: Estimate, b: Estimate) -> bool:
    """Were both bootstrapped over the same examples with the same resample indices?"""
    return a.sample == b.sample and a.seed == b.seed and a.n == b.n and a.n_resamples == b.n_resamples


def _draws_of(x: Any, like: Estimate) -> np.ndarray:
    if isinstance(x, Estimate):
        return x.draws  # type: ignore[return-value]
    return np.full(like.n_resamples, float(x))


def _value_of(x: Any) -> float:
    return x.value if isinstance(x, Estimate) else float(x)


def _label(x: Any) -> str:
    if isinstance(x, Estimate):
        return f"({x.name})" if any(c in x.name for c in "+-*/") else (x.name or "estimate")
    return f"{x:g}"


def _independent_order(draws: np.ndarray, a: Estimate, b: Estimate) -> np.ndarray:
    """`draws` in a seeded random order: b's resamples no longer line up with a's, so the
    combination treats the two samples as independent."""
    if len(draws) != len(a.draws):  # type: ignore[arg-type]
        raise MechtestsError(f"{a.name or 'an estimate'} has {len(a.draws)} draws and {b.name or 'the other'} {len(draws)}",  # type: ignore[arg-type]
                             "bootstrap both with the same n_resamples")
    return draws[np.random.default_rng([a.seed, b.seed, 0x5eed]).permutation(len(draws))]


# --- decisions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """`estimate <op> bar`, judged on the estimate's interval: holds, fails or inconclusive."""

    estimate: Estimate
    op: str
    bar: float
    verdict: str

    def __bool__(self) -> bool:
        if self.verdict == INCONCLUSIVE:
            if not evidence.note_inconclusive(str(self)):
                raise Inconclusive(str(self))
            return True
        return self.verdict == HOLDS

    def __str__(self) -> str:
        est = self.estimate
        where = ("above" if est.lo > self.bar else "at or above" if est.lo >= self.bar else
                 "below" if est.hi < self.bar else "at or below" if est.hi <= self.bar else "straddling")
        return f"{est}, {where} the bar {self.bar:g}"

    __repr__ = __str__


def _compare_and_record(est: Estimate, op: str, bar: Any) -> Decision:
    """The three-way decision, and its evidence recorded with the running test; an estimate
    measured in rounds is first grown to the look that decides it (its evidence says which)."""
    est, how = _settled(est, op, bar)
    decision = decide(est, op, bar)
    evidence.note_decision(est.name or "estimate", est, decision.bar, **how)
    return decision


def _settled(est: Estimate, op: str, bar: Any) -> tuple[Estimate, dict[str, Any]]:
    """An estimate measured in rounds at the look that decides `est <op> bar`, under the name it
    carries (one given with `named` after measuring is the one the report shows), and the
    evidence of how that look was reached; any other estimate as it is."""
    if est.growth is None:
        return est, {}
    look, how = est.growth.settle(op, bar)
    return (replace(look, name=est.name) if est.name else look), how


def explain(left: Any, op: str, right: Any) -> list[str] | None:
    """pytest's failure text for `assert estimate <op> bar` (pytest_assertrepr_compare)."""
    if not isinstance(left, Estimate) or op not in OPS:
        return None
    try:
        return [str(decide(left, op, right))]
    except (TypeError, MeasurementError):
        return None


def decide(est: Estimate, op: str, bar: Any) -> Decision:
    """`est <op> bar` judged on the interval: at or beyond the bar on the claimed side holds,
    clear of it on the other side fails, else inconclusive (ties as in >=, >, <=, <); an estimate
    measured in rounds, at the look that decides it (mechtests.stats.sequential)."""
    if isinstance(bar, Estimate):
        raise TypeError(f"compare an estimate with a number; for two estimates compare their difference: "
                        f"assert ({est.name or 'a'}) - ({bar.name or 'b'}) {op} 0")
    if isinstance(bar, bool) or not isinstance(bar, numbers.Real):
        raise TypeError(f"an estimate is compared with a number, not {type(bar).__name__}")
    est = _settled(est, op, bar)[0]  # measured in rounds: judged at the look that decides it
    bar = float(bar)
    if not all(math.isfinite(v) for v in (est.value, est.lo, est.hi, bar)):
        raise MeasurementError(f"{est.name or 'estimate'}: the statistic or its interval is not finite "
                               f"({est.value}, [{est.lo}, {est.hi}]) against the bar {bar}: the measurement did not work")
    if est.lo > est.hi:
        raise MeasurementError(f"{est.name or 'estimate'}: interval [{est.lo}, {est.hi}] has its ends reversed")
    if op in (">=", ">"):
        clears, misses = (est.lo >= bar, est.hi < bar) if op == ">=" else (est.lo > bar, est.hi <= bar)
    else:
        clears, misses = (est.hi <= bar, est.lo > bar) if op == "<=" else (est.hi < bar, est.lo >= bar)
    return Decision(est, op, bar, HOLDS if clears else FAILS if misses else INCONCLUSIVE)
