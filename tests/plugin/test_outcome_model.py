"""mechtests.claims.outcomes: judging an interval, concluding parts, the outcome table, the gate's reading."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mechtests.claims.outcomes import (CHANGE, NOT_COMPARED, SAME, WARNING, ClaimFailed, Inconclusive, MeasurementError, Parts,
                                as_pytest, from_v1, grade, judge, transition)


@pytest.mark.parametrize(("lo", "hi", "bar", "above", "verdict"), [
    (0.5, 0.7, 0.4, True, "holds"), (0.1, 0.3, 0.4, True, "fails"), (0.3, 0.5, 0.4, True, "inconclusive"),
    (0.1, 0.3, 0.4, False, "holds"), (0.5, 0.7, 0.4, False, "fails"), (0.4, 0.4, 0.4, True, "holds"),
])
def test_judge_reads_the_interval_against_the_bar(lo, hi, bar, above, verdict) -> None:
    assert judge("x", lo, hi, bar, above) == verdict


@pytest.mark.parametrize("values", [(math.nan, 1.0, 0.5), (0.0, math.inf, 0.5), (0.0, 1.0, "0.5"), (0.7, 0.2, 0.5)])
def test_judge_refuses_what_is_not_an_interval(values) -> None:
    with pytest.raises(MeasurementError, match="x: "):
        judge("x", *values)


def test_judge_takes_numpy_scalars() -> None:
    assert judge("x", np.float32(0.5), np.float64(0.6), 0.4) == "holds"


def test_parts_conclude_on_the_worst_part() -> None:
    parts = Parts()
    parts.check("ioi", 0.5, 0.7, 0.4)
    assert parts.conclude() == "holds"
    parts.check("gt", 0.3, 0.5, 0.4, value=0.45)
    with pytest.raises(Inconclusive, match=r"gt 0.45 \[0.3, 0.5\] against the claim >= 0.4: inconclusive"):
        parts.conclude()
    parts.add("countdown", "fails", "countdown reversed")
    with pytest.raises(ClaimFailed, match="^countdown reversed$"):
        parts.conclude()
    with pytest.raises(ValueError, match="must be one of"):
        parts.add("x", "error")
    assert not issubclass(ClaimFailed, AssertionError)


@pytest.mark.parametrize(("outcome", "expected", "strict", "graded", "shown"), [
    ("holds", "holds", False, "ok", "passed"), ("fails", "fails", False, "ok", "xfailed"),
    ("inconclusive", "inconclusive", False, "ok", "xfailed"), ("holds", "fails", False, "mismatch", "failed"),
    ("fails", "holds", False, "mismatch", "failed"), ("inconclusive", "fails", False, "warning", "passed"),
    ("inconclusive", "holds", True, "mismatch", "failed"), ("holds", "inconclusive", False, "warning", "passed"),
    ("error", "fails", False, "error", "failed"), ("not_applicable", "holds", True, "not_applicable", "skipped"),
    ("not_selected", "fails", False, "not_selected", "deselected"),
])
def test_the_outcome_table(outcome, expected, strict, graded, shown) -> None:
    assert grade(outcome, expected, strict) == graded
    assert as_pytest(outcome, expected, strict) == shown


@pytest.mark.parametrize(("old", "new", "strict", "step"), [
    ("holds", "holds", False, SAME), ("holds", "fails", False, CHANGE), ("fails", "error", False, CHANGE),
    ("holds", "inconclusive", False, WARNING), ("inconclusive", "fails", True, CHANGE),
    ("inconclusive", "error", False, CHANGE), ("holds", "not_applicable", False, NOT_COMPARED),
    ("not_selected", "fails", True, NOT_COMPARED),
])
def test_the_gate_reads_transitions(old, new, strict, step) -> None:
    assert transition(old, new, strict) == step


def test_version_1_outcomes_are_read() -> None:
    assert [from_v1(o) for o in ("holds", "fails", "error", "skipped")] == ["holds", "fails", "error", "not_applicable"]
    with pytest.raises(ValueError):
        from_v1("maybe")
