"""The outcomes a hypothesis result can have, and the exceptions a test raises to reach them.

One module owns this, so that the plugin, the reports, the baseline gate and the suites all
speak of the same six states:

- holds: the claim's statistic is decisively on the claimed side of its bar;
- fails: decisively on the other side (a `ClaimFailed`, or an AssertionError raised by the
  hypothesis's own code: its test module or a helper under suites/);
- inconclusive: the statistic's interval straddles the bar (`Inconclusive`);
- error: the hypothesis could not be judged (any other exception, an AssertionError raised
  inside a library, a non-finite statistic);
- not_applicable: the hypothesis does not apply to this run (`NotApplicable`: a pair-level
  hypothesis in a one-model run, a task pool below the budget's minimum);
- not_selected: the hypothesis was deselected (-k, node ids) and did not run.

A hypothesis with several parts (one per task, say) gets one verdict: fails if any part
fails, else inconclusive if any part is inconclusive, else holds (`Parts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

HOLDS = "holds"
FAILS = "fails"
INCONCLUSIVE = "inconclusive"
ERROR = "error"
NOT_APPLICABLE = "not_applicable"
NOT_SELECTED = "not_selected"

OUTCOMES: tuple[str, ...] = (HOLDS, FAILS, INCONCLUSIVE, ERROR, NOT_APPLICABLE, NOT_SELECTED)
# What a hypothesis may declare in expect=...: the outcomes a judged claim can have.
VERDICTS: tuple[str, ...] = (HOLDS, FAILS, INCONCLUSIVE)


class ClaimFailed(Exception):
    """The claim's statistic is decisively on the wrong side of its bar: the verdict is `fails`.

    Deliberately not an AssertionError: an assertion inside torch or a library must never be
    mistaken for a failed claim.
    """


class Inconclusive(Exception):
    """The statistic's interval straddles the bar: the verdict is `inconclusive`."""


class NotApplicable(Exception):
    """The hypothesis does not apply to this run; the message says why."""


class MeasurementError(Exception):
    """A thresholded statistic is NaN or infinite: the measurement did not work (`error`)."""


def _finite(name: str, *values: float) -> None:
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        raise MeasurementError(f"{name}: the statistic or its interval is not finite ({', '.join(map(str, values))})")


def judge(name: str, lo: float, hi: float, bar: float, above: bool = True) -> str:
    """`holds`, `fails` or `inconclusive` for an interval [lo, hi] against `bar`.

    above=True claims the statistic is at least `bar` (holds when lo >= bar, fails when
    hi < bar); above=False claims it is below `bar` (holds when hi < bar, fails when lo >= bar).
    """
    _finite(name, lo, hi, bar)
    if lo > hi:
        raise MeasurementError(f"{name}: interval [{lo}, {hi}] has its ends reversed")
    clears, misses = (lo >= bar, hi < bar) if above else (hi < bar, lo >= bar)
    return HOLDS if clears else FAILS if misses else INCONCLUSIVE


@dataclass
class Parts:
    """The parts of one hypothesis, each judged on its interval, concluded into one verdict.

        parts = Parts()
        for task in tasks:
            parts.check(f"{task}: edge Jaccard", est.lo, est.hi, bar)
        parts.conclude()   # raises ClaimFailed or Inconclusive, or returns "holds"
    """

    verdicts: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, lo: float, hi: float, bar: float, above: bool = True, value: Any = None) -> str:
        verdict = judge(name, lo, hi, bar, above)
        shown = "" if value is None else f"{value:.3g} "
        self.verdicts[name] = verdict
        self.details[name] = f"{name} {shown}[{lo:.3g}, {hi:.3g}] {'>=' if above else '<'} {bar:.3g}: {verdict}"
        return verdict

    def add(self, name: str, verdict: str, detail: str = "") -> None:
        """A part judged elsewhere (one of holds, fails, inconclusive)."""
        if verdict not in VERDICTS:
            raise ValueError(f"a part's verdict must be one of {VERDICTS}, got {verdict!r}")
        self.verdicts[name] = verdict
        self.details[name] = detail or f"{name}: {verdict}"

    def verdict(self) -> str:
        values = set(self.verdicts.values())
        return FAILS if FAILS in values else INCONCLUSIVE if INCONCLUSIVE in values else HOLDS

    def conclude(self) -> str:
        """Raise ClaimFailed / Inconclusive with the parts that decided it, or return `holds`."""
        verdict = self.verdict()
        deciding = [self.details[n] for n, v in self.verdicts.items() if v == verdict]
        if verdict == FAILS:
            raise ClaimFailed("; ".join(deciding))
        if verdict == INCONCLUSIVE:
            raise Inconclusive("; ".join(deciding))
        return HOLDS
