"""Hypotheses split into parts that xdist spreads over its workers, one verdict kept.

A hypothesis that is really several independent measurements (one attribution per task, one
robustness variant each) names them:

    @mechtests.hypothesis(claim=..., parts={task: functools.partial(_measure, task=task) for task in TASKS})
    def test_x(pair, attributions): ...

Each part is a function that takes fixtures by name, as a test does, and computes what the
hypothesis will read from the disk cache (mechtests.study). When the run spreads pair-level
work over several workers (xdist with two or more, --mech-split-pair resolving to yes), each
part becomes a test item of its own, `test_x[part:ioi]`, in an xdist group of its own and
queued before every hypothesis, so the workers compute the parts side by side. The hypothesis
then runs as it always does and finds its measurements cached; one that starts before a part
has finished waits on that cache entry's lock instead of computing it twice.

A part records nothing: the verdict, its key and its evidence belong to the hypothesis alone,
so baselines, -k and reports are the same with or without parts, and so are the numbers (the
hypothesis reads the same cached values either way). A part that meets NotApplicable (a task
without a pool, or the missing model of a one-model run) is skipped with the reason; any
other error fails the part, and the hypothesis's result is an error naming that part (the
controller joins them, mechtests.plugin.collect), whatever the hypothesis's own body did: a
part never makes a verdict, and a report never says "as expected" where pytest failed. Where
parts are not items (-n 0, or pair work not split) there is nothing to spread: the hypothesis
runs its parts itself before its body (`run_inline`), so a broken part is its error there too.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import pytest

from mechtests.claims import evidence
from mechtests.claims.hypotheses import hypothesis_of
from mechtests.claims.outcomes import NotApplicable
from mechtests.plugin.collect import MESSAGE_LIMIT, PART_PROP, base_nodeid

PART_KEY = pytest.StashKey[str]()
PART_OF_KEY = pytest.StashKey[str]()  # the node id of the hypothesis a part item measures for
INLINE_KEY = pytest.StashKey[bool]()  # a hypothesis whose parts are not items: it runs them itself
PREFIX = "part:"


class PartFailed(Exception):
    """A part of the hypothesis raised: the measurement broke, so the hypothesis is an error."""


def active(config: pytest.Config, split: bool) -> bool:
    """Whether parts become items: pair work is split and two or more xdist workers share it."""
    workerinput = getattr(config, "workerinput", None)
    return split and workerinput is not None and int(workerinput.get("workercount", 1)) > 1


def _runner(measure: Callable[..., Any], also: list[str]) -> Callable[..., None]:
    """`measure` as a test function: it gets the fixtures its parameters without a default name
    (functools.partial binds the rest, such as the task); `also` (the parametrised fixtures of
    the hypothesis, such as `subject`) are requested so the part runs on the same model and
    seed, and dropped unless `measure` names them."""
    wants = _wanted(measure)

    def run_part(**fixtures: Any) -> None:
        measure(**{name: fixtures[name] for name in wants})

    names = wants + [name for name in also if name not in wants]
    run_part.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names])
    return run_part


def _wanted(measure: Callable[..., Any]) -> list[str]:
    """The fixtures `measure` takes: its parameters without a default."""
    return [name for name, p in inspect.signature(measure).parameters.items() if p.default is inspect.Parameter.empty]


def run_inline(item: pytest.Function) -> None:
    """Run the parts of `item`'s hypothesis in its own call, before its body, where they are not
    items of their own: what a part records is dropped, as it is from a part item; a part that
    meets NotApplicable is passed over (the body meets it too); any other error is the
    hypothesis's PartFailed, naming the part."""
    hyp = hypothesis_of(item)
    for name, measure in (hyp.parts.items() if hyp is not None and item.stash.get(INLINE_KEY, False) else ()):
        try:
            with evidence.collecting(lambda entry: None, seed=evidence.current_seed()):  # a part records nothing
                # pytest has no public way to ask for a fixture the test function does not name
                measure(**{fixture: item._request.getfixturevalue(fixture) for fixture in _wanted(measure)})
        except NotApplicable:
            continue
        except Exception as err:
            raise PartFailed(f"part {name!r} failed: {type(err).__name__}: {err}"[:MESSAGE_LIMIT]) from err


def note_failure(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[Any]) -> None:
    """A part item that failed tells the controller which hypothesis it measured for."""
    if report.failed and call.excinfo is not None:
        message = f"part {part_name(item)!r} failed: {call.excinfo.exconly()}"[:MESSAGE_LIMIT]
        report.user_properties.append((PART_PROP, {"of": item.stash[PART_OF_KEY], "message": message}))


def part_items(item: pytest.Function) -> list[pytest.Function]:
    """One item per part of `item`'s hypothesis, with the same parameters (model, seed)."""
    hyp = hypothesis_of(item)
    if hyp is None or not hyp.parts:
        return []
    callspec = getattr(item, "callspec", None)
    params = list(callspec.params) if callspec is not None else []
    out = []
    for name, measure in hyp.parts.items():
        ids = f"{callspec.id}-{PREFIX}{name}" if callspec is not None else f"{PREFIX}{name}"
        part = pytest.Function.from_parent(item.parent, name=f"{item.originalname}[{ids}]", callspec=callspec,
                                           callobj=_runner(measure, params), originalname=item.originalname)
        part.stash[PART_KEY] = name
        part.stash[PART_OF_KEY] = base_nodeid(item.nodeid)
        out.append(part)
    return out


def not_applicable_skips(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> None:
    """A part that meets NotApplicable, in its fixtures (a one-model run has no pair) or in its
    measurement (a task without a pool), is reported skipped with the reason, not as an error."""
    if call.excinfo is not None and call.excinfo.errisinstance(NotApplicable):
        path, line, _ = report.location
        report.outcome = "skipped"
        report.longrepr = (str(path), (line or 0) + 1, f"Skipped: {call.excinfo.value}")


def part_name(item: pytest.Item) -> str | None:
    """The part `item` measures, or None for any other test."""
    return item.stash.get(PART_KEY, None)
