r"""The outcomes a hypothesis result can have, and the exceptions a test raises to reach them.

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

Against its expectation (holds, fails or inconclusive) each outcome gets a *grade*, and the
grade decides what pytest shows (`grade`, `as_pytest`):

    outcome \ expected   holds            fails            inconclusive     none
    holds                ok: passed       mismatch: failed warning: passed  reported: passed
    fails                mismatch: failed ok: xfailed      warning: passed  reported: passed
    inconclusive         warning: passed  warning: passed  ok: xfailed      reported: passed
    error                error: failed (whatever was expected)
    not_applicable       not_applicable: skipped, with the reason
    not_selected         not_selected: deselected, never run

A warning is a pytest warning, not a failure; with strict (`--mech-strict`) it is a mismatch.
"none" is a result without an expectation (`--mech-expect=none`, discovery; or a pair's
expectations file that leaves the hypothesis out: mechtests.claims.expectations): its verdict
is reported and only an error fails the run.
The baseline gate reads outcomes the same way (`transition`): holds <-> fails and any move
into or out of error is a change; a move into or out of inconclusive is a warning unless
strict; not_applicable and not_selected are not compared.
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
# What a result is about, and the keys of an expectation: one model of the pair, or the pair.
MODEL_KEYS: tuple[str, ...] = ("arm", "mdm", "pair")
# A result's expectation when it has none (discovery, or a pair's file that leaves it out):
# results.json writes null, the reports "no expectation".
NO_EXPECTATION = None
# Outcomes that are no verdict on the claim: nothing to compare against an expectation or a baseline.
UNJUDGED: tuple[str, ...] = (NOT_APPLICABLE, NOT_SELECTED)

# Grades: how an outcome stands against its expectation.
OK = "ok"
WARNING = "warning"
MISMATCH = "mismatch"
REPORTED = "reported"  # a verdict with no expectation to meet: shown, never red
GRADES: tuple[str, ...] = (OK, WARNING, MISMATCH, REPORTED, ERROR, NOT_APPLICABLE, NOT_SELECTED)

# Results schema version 1 (before these six outcomes) had holds, fails, error and skipped;
# "skipped" covered pytest.skip and, in incomplete runs, tests that never ran.
V1_OUTCOMES = {"holds": HOLDS, "fails": FAILS, "error": ERROR, "skipped": NOT_APPLICABLE}


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


def grade(outcome: str, expected: str | None, strict: bool = False) -> str:
    """How `outcome` stands against the expectation `expected` (None: none; see the table above)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; one of {OUTCOMES}")
    if outcome in (ERROR, *UNJUDGED):
        return outcome
    if expected is NO_EXPECTATION:
        return REPORTED
    if outcome == expected:
        return OK
    return MISMATCH if strict or INCONCLUSIVE not in (outcome, expected) else WARNING


def as_pytest(outcome: str, expected: str | None, strict: bool = False) -> str:
    """passed, xfailed, failed, skipped or deselected: what pytest reports for this outcome."""
    graded = grade(outcome, expected, strict)
    if graded == OK:
        return "passed" if outcome == HOLDS else "xfailed"
    return {WARNING: "passed", REPORTED: "passed", MISMATCH: "failed", ERROR: "failed", NOT_APPLICABLE: "skipped",
            NOT_SELECTED: "deselected"}[graded]


SAME, CHANGE, NOT_COMPARED = "same", "change", "not_compared"


def transition(old: str, new: str, strict: bool = False) -> str:
    """same, change, warning or not_compared: how the gate reads `old` (baseline) -> `new`."""
    if old in UNJUDGED or new in UNJUDGED:
        return NOT_COMPARED
    if old == new:
        return SAME
    if INCONCLUSIVE in (old, new) and ERROR not in (old, new) and not strict:
        return WARNING
    return CHANGE


def from_v1(outcome: str) -> str:
    """An outcome read from a schema version 1 file, in today's terms."""
    if outcome in OUTCOMES:
        return outcome
    if outcome not in V1_OUTCOMES:
        raise ValueError(f"unknown version 1 outcome {outcome!r}")
    return V1_OUTCOMES[outcome]


def _finite(name: str, *values: Any) -> list[float]:
    """The values as floats, or MeasurementError when one is not a finite number."""
    try:
        if any(isinstance(v, (str, bytes, bool)) for v in values):
            raise TypeError
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        raise MeasurementError(f"{name}: the statistic or its bar is not a number ({', '.join(map(repr, values))})") from None
    if not all(math.isfinite(v) for v in floats):
        raise MeasurementError(f"{name}: the statistic or its interval is not finite ({', '.join(map(str, floats))})")
    return floats


def judge(name: str, lo: float, hi: float, bar: float, above: bool = True) -> str:
    """`holds`, `fails` or `inconclusive` for an interval [lo, hi] against `bar`.

    above=True claims the statistic is at least `bar` (holds when lo >= bar, fails when
    hi < bar); above=False claims it is below `bar` (holds when hi < bar, fails when lo >= bar).
    """
    lo, hi, bar = _finite(name, lo, hi, bar)
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
        self.details[name] = f"{name} {shown}[{lo:.3g}, {hi:.3g}] against the claim {'>=' if above else '<'} {bar:.3g}: {verdict}"
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
