"""Each test phase's verdict, as pytest shows it: the outcome the phase reached (holds, fails,
inconclusive, not applicable, error), graded against the hypothesis's expectation and shown as
pytest's passed, xfailed, failed or skipped (mechtests.claims.outcomes' table), with notes under
a surprising result that name the model, the evidence, the seed and the command that reruns it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import mechtests
from mechtests.claims import evidence
from mechtests.claims.evidence import unusable_statistic
from mechtests.claims.outcomes import (ERROR, FAILS, HOLDS, INCONCLUSIVE, MISMATCH, NOT_APPLICABLE, VERDICTS, WARNING, ClaimFailed,
                                       Inconclusive, NotApplicable, as_pytest, grade)
from mechtests.errors import MechtestsError
from mechtests.plugin import parts, seeds
from mechtests.plugin.expectations import expectations_of
from mechtests.plugin.collect import CASE_PROP, EVIDENCE_PROP, MESSAGE_LIMIT, base_nodeid
from mechtests.plugin.state import CASE_KEY, MechtestsState, state_of


class MechtestsWarning(UserWarning):
    """A result that is not red but wants a look: an inconclusive verdict against its expectation."""


MECHTESTS_DIR = Path(mechtests.__file__).resolve().parent
INSTALLED = ("site-packages", "dist-packages")


def suite_folder(test_file: Path, rootdir: Path) -> Path:
    """The folder whose files are the hypothesis's own code: the top folder under the rootdir
    that holds the test file (suites/ for suites/sub/test_x.py), or its own folder."""
    try:
        parts = test_file.relative_to(rootdir).parts
    except ValueError:
        return test_file.parent
    return rootdir / parts[0] if len(parts) > 1 else rootdir


def raised_by_suite(excinfo: pytest.ExceptionInfo[BaseException], item: Any) -> bool:
    """Was the exception raised by the hypothesis's own code: its test module, or a file under
    its suite folder that is neither installed (site-packages) nor part of mechtests? An
    assertion function of numpy.testing or torch.testing counts as the code that called it: the
    suite asserted through it (an AssertionError from inside other library code stays foreign)."""
    entries = list(excinfo.traceback)
    caller = len(entries)
    while caller > 0 and _in_assertion_library(entries[caller - 1]):
        caller -= 1
    where = entries[caller - 1].path if caller else ""
    if not isinstance(where, Path):
        return False
    where, test_file = where.resolve(), Path(item.path).resolve()
    if where == test_file:
        return True
    folder = suite_folder(test_file, Path(item.config.rootpath).resolve())
    return (where.is_relative_to(folder) and not where.is_relative_to(MECHTESTS_DIR)
            and not any(part in INSTALLED for part in where.parts))


ASSERTION_LIBRARIES = ("numpy.testing", "torch.testing")  # packages whose functions are assertions


def _in_assertion_library(entry: Any) -> bool:
    module = str(entry.frame.f_globals.get("__name__", ""))
    return any(module == lib or module.startswith(lib + ".") for lib in ASSERTION_LIBRARIES)


def phase_outcome(call: pytest.CallInfo[Any], item: Any, evidence: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """The outcome one phase (setup/call/teardown) reached, and a message; (None, None) for a
    setup or teardown that raised nothing.

    ClaimFailed is fails wherever it is raised; an AssertionError is fails only when the test
    body raised it from the hypothesis's own code (`raised_by_suite`), else error; Inconclusive
    is inconclusive; NotApplicable, pytest.skip and pytest.xfail are not_applicable; anything
    else is error. A verdict whose thresholded statistic is NaN or infinite is error too.
    """
    excinfo = call.excinfo
    if excinfo is None:
        outcome, message = (HOLDS, None) if call.when == "call" else (None, None)
    elif excinfo.errisinstance((NotApplicable, pytest.skip.Exception, pytest.xfail.Exception)):
        return NOT_APPLICABLE, str(excinfo.value)[:MESSAGE_LIMIT]
    else:
        exc = excinfo.value
        message = f"MechtestsError: {exc}" if isinstance(exc, MechtestsError) else excinfo.exconly()
        if isinstance(exc, ClaimFailed):
            outcome = FAILS
        elif isinstance(exc, Inconclusive):
            outcome = INCONCLUSIVE
        elif isinstance(exc, AssertionError) and call.when == "call" and raised_by_suite(excinfo, item):
            outcome = FAILS
        elif isinstance(exc, AssertionError):
            entry = excinfo.traceback[-1] if excinfo.traceback else None
            where = f"{entry.path}:{entry.lineno + 1}" if entry is not None else "unknown code"
            outcome, message = ERROR, (f"{message} (raised in {where}, not by the hypothesis's own code, so it "
                                       "cannot mean the claim failed; raise mechtests.claims.outcomes.ClaimFailed for that)")
        else:
            outcome = ERROR
    if outcome in VERDICTS and call.when == "call":
        unusable = unusable_statistic(evidence)
        if unusable is not None:
            outcome, message = ERROR, unusable + (f" [{message}]" if message else "")
    return outcome, None if message is None else message[:MESSAGE_LIMIT]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Each phase's outcome, graded against the expectation, decides what pytest reports.
    tryfirst: this wrapper runs outermost, so it has the last word over pytest's skipping plugin."""
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        report = yield
        if parts.part_name(item) is not None:
            parts.not_applicable_skips(report, call)
            parts.note_failure(item, report, call)
        return report
    state = state_of(item.config)
    entries = [value for name, value in item.user_properties if name == EVIDENCE_PROP]
    outcome, message = phase_outcome(call, item, entries)
    strict = state.settings["strict"]
    graded = grade(outcome, case["expected"], strict) if outcome is not None else None
    explain = graded in (MISMATCH, ERROR) and call.excinfo is not None and call.when != "teardown"
    if explain and hasattr(call.excinfo.value, "add_note"):
        why = message if outcome == ERROR and not (message or "").startswith(call.excinfo.exconly()[:60]) else None
        call.excinfo.value.add_note(_explanation(item, case, state, outcome, why))
    report = yield
    report.user_properties.append((CASE_PROP, {"case": case, "outcome": outcome, "message": message}))
    if outcome is not None:
        _show(report, item, case, state, outcome, message)
    return report


def _show(report: pytest.TestReport, item: pytest.Item, case: dict[str, Any], state: MechtestsState,
          outcome: str, message: str | None) -> None:
    """Set the report's pytest outcome from mechtests.claims.outcomes' table."""
    expected, strict = case["expected"], state.settings["strict"]
    shown = as_pytest(outcome, expected, strict)
    if hasattr(report, "wasxfail"):
        del report.wasxfail
    who = f"hypothesis {case['key']!r} on {case['model']}"
    if shown == "passed":
        report.outcome, report.longrepr = "passed", None
        if grade(outcome, expected, strict) == WARNING:
            item.warn(MechtestsWarning(
                f"{who}: {outcome}, expected {expected}{': ' + message if message else ''} "
                "(a warning; --mech-strict makes it a failure)"))
    elif shown == "xfailed":
        report.outcome = "skipped"
        report.wasxfail = f"{who}: {outcome} as expected" + (f" ({case['reason']})" if case["reason"] else "")
    elif shown == "skipped":
        path, lineno = item.reportinfo()[:2]
        report.outcome = "skipped"
        report.longrepr = (os.fspath(path), (lineno or 0) + 1, f"not applicable: {message}")
    else:
        report.outcome = "failed"
        if report.longrepr is None or isinstance(report.longrepr, tuple):
            report.longrepr = _no_exception_failure(item, case, state, outcome, message)
        elif message and message.startswith("MechtestsError: "):
            report.longrepr = f"{message}\n{_explanation(item, case, state, outcome)}"


EXPECTED_PHRASE = {"fails": "fail", "inconclusive": "be inconclusive", "holds": "hold"}


def _no_exception_failure(item: pytest.Item, case: dict[str, Any], state: MechtestsState, outcome: str,
                          message: str | None) -> str:
    """The failure text of a case that raised nothing: it held against an expected fails, or
    its thresholded statistic was not a number."""
    if outcome == "holds":
        head = (f"[XPASS(strict)] hypothesis {case['key']!r} was expected to {EXPECTED_PHRASE[case['expected']]} "
                f"on {case['model']} but holds: the mechanism appeared. If that is the new truth, "
                f"{expectations_of(item.config).fix(case['model'], 'holds')}.")
    else:
        head = f"mechtests: {message}"
    return f"{head}\n{_explanation(item, case, state, outcome)}"


def _explanation(item: pytest.Item, case: dict[str, Any], state: MechtestsState, outcome: str,
                 why: str | None = None) -> str:
    """The notes under a surprising result: model, evidence against thresholds, seed, rerun command."""
    expected = f"expected {case['expected']}" if case["expected"] is not None else "no expectation"
    lines = [f"mechtests: hypothesis {case['key']!r} on {case['model']}: {expected}, got {outcome}"]
    if why:
        lines.append(f"  why: {why}")
    if case["claim"]:
        lines.append(f"  claim: {case['claim']}")
    for name, value in item.user_properties:
        if name == EVIDENCE_PROP:
            lines.append(f"  {evidence.describe(value)}")
    lines.append(f"  seed: {seeds.seed_of(item, state.settings['seed'])}")
    lines.append(f"  rerun: {state.rerun(base_nodeid(item.nodeid))}")
    return "\n".join(lines)
