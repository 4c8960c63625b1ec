"""From pytest items and reports to per-case results, keyed by a stable id.

A *case* is one hypothesis on one model: (key, model) where key is the hypothesis id plus any
non-model parameters (`overlap[ioi]`) and model is "arm", "mdm" or "pair". Results are keyed
by case, never by node id (which xdist's --dist loadgroup suffixes with `@group`), so they do
not depend on how tests were scheduled.

Worker side: `case_of(item)` at collection, `phase_status(call)` for each test phase; both go
into the report's user_properties as plain dicts. Controller side: `Collector` gathers them
from every report it sees, in any order, and `Collector.results()` turns them into the
per-hypothesis entries of results.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mechtests.errors import MechtestsError
from mechtests.hypotheses import default_id, hypothesis_of

CASE_PROP = "mechtests.case"
EVIDENCE_PROP = "mechtests.evidence"
MODEL_PROP = "mechtests.model"
MODEL_ORDER = ("arm", "mdm", "pair")
MESSAGE_LIMIT = 2000


def _variant(item: Any) -> tuple[str | None, str | None]:
    """(model, variant): the subject parameter, and the ids of every other parameter."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None, None
    model = callspec.params.get("subject")
    ids = list(getattr(callspec, "_idlist", [callspec.id]))
    if model is not None and model in ids:
        ids.remove(model)
    return model, "-".join(ids) or None


GROUP_PREFIX = "mechtests-"  # xdist_group names: mechtests-arm, mechtests-mdm, mechtests-pair


def base_nodeid(nodeid: str) -> str:
    """The node id without xdist's `@mechtests-<group>` suffix (added under --dist loadgroup)."""
    head, sep, tail = nodeid.rpartition("@" + GROUP_PREFIX)
    return head if sep and "::" not in tail and "[" not in tail else nodeid


def case_of(item: Any) -> dict[str, Any] | None:
    """What a collected test claims, or None for tests that are not hypotheses.

    A test is a hypothesis when it is decorated with @mechtests.hypothesis or takes the
    `subject` or `pair` fixture. Mismatched expectations are kept in "problem" and raised when
    the test is set up, so that they show as an error of that one test.
    """
    hyp = hypothesis_of(item)
    names = getattr(item, "fixturenames", ())
    if hyp is None and "subject" not in names and "pair" not in names:
        return None
    model, variant = _variant(item)
    if "subject" in names and model is None:
        model = "?"
    model = model or "pair"
    hid = hyp.id if hyp else default_id(getattr(item, "obj", None)) if getattr(item, "obj", None) else item.name
    problem = None
    if hyp is not None:
        keys = set(hyp.expect)
        if model == "pair" and keys - {"pair"}:
            problem = (f"hypothesis {hid!r} runs once for the pair (it takes no `subject`) but expect has "
                       f"{sorted(keys)}; write expect={{'pair': ...}} or take the `subject` fixture")
        elif model != "pair" and "pair" in keys:
            problem = (f"hypothesis {hid!r} takes `subject` (one run per model) but expect has 'pair'; "
                       "write expect={'arm': ..., 'mdm': ...}")
    return {
        "key": hid + (f"[{variant}]" if variant else ""),
        "id": hid,
        "variant": variant,
        "model": model,
        "claim": hyp.claim if hyp else "",
        "source": hyp.source if hyp else None,
        "reason": hyp.reason if hyp else None,
        "expected": hyp.expected(model) if hyp else "holds",
        "file": item.location[0],
        "problem": problem,
    }


def phase_status(call: pytest.CallInfo[Any]) -> tuple[str, str | None]:
    """How one phase (setup/call/teardown) ended: ok, fails, error or skipped, and a message.

    Only an AssertionError raised by the test body is `fails`; any other exception, and any
    exception in a fixture, is `error`: the hypothesis could not be judged.
    """
    excinfo = call.excinfo
    if excinfo is None:
        return "ok", None
    if excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
        return "skipped", str(excinfo.value)[:MESSAGE_LIMIT]
    if isinstance(excinfo.value, MechtestsError):
        message = f"MechtestsError: {excinfo.value}"
    else:
        message = excinfo.exconly()
    status = "fails" if call.when == "call" and excinfo.errisinstance(AssertionError) else "error"
    return status, message[:MESSAGE_LIMIT]


@dataclass
class CaseRecord:
    case: dict[str, Any]
    nodeid: str
    phases: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0
    crashed: str | None = None

    def outcome(self) -> tuple[str, str | None]:
        if self.crashed is not None:
            return "error", self.crashed
        for when in ("setup", "call", "teardown"):
            status, message = self.phases.get(when, ("ok", None))
            if status == "error":
                return "error", message if when != "teardown" else f"error in teardown: {message}"
        for when in ("setup", "call"):
            status, message = self.phases.get(when, ("ok", None))
            if status == "skipped":
                return "skipped", message
        if "call" not in self.phases:
            return "skipped", "not run: the run stopped before this test"
        status, message = self.phases["call"]
        return ("holds", None) if status == "ok" else ("fails", message)


class Collector:
    """Gathers cases from reports (any order, any worker) and builds results.json entries."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], CaseRecord] = {}
        self.known: dict[str, dict[str, Any]] = {}  # nodeid -> case, from collection anywhere
        self.models: dict[str, dict[str, Any]] = {}
        self.crashed: dict[str, str] = {}  # nodeid -> message

    def add_known(self, cases: dict[str, dict[str, Any]]) -> None:
        for nodeid, case in cases.items():
            self.known.setdefault(nodeid, case)

    def add_report(self, report: pytest.TestReport) -> None:
        nodeid = base_nodeid(report.nodeid)
        case = None
        evidence = []
        status = None
        for name, value in report.user_properties:
            if name == CASE_PROP:
                case, status = value["case"], (value["status"], value["message"])
            elif name == EVIDENCE_PROP:
                evidence.append(value)
            elif name == MODEL_PROP:
                self.models.setdefault(value["role"], {k: value[k] for k in ("path", "weights_sha256")})
        if case is None:
            if report.when not in ("setup", "call", "teardown") and report.failed:
                self.crashed[nodeid] = str(report.longrepr).strip().splitlines()[0][:MESSAGE_LIMIT]
            return
        self.known.setdefault(nodeid, case)
        rec = self.records.setdefault((case["key"], case["model"]), CaseRecord(case, nodeid))
        rec.phases[report.when] = status
        rec.duration += report.duration
        if len(evidence) >= len(rec.evidence):
            rec.evidence = evidence

    def has_cases(self) -> bool:
        return bool(self.known or self.records)

    def finish(self) -> bool:
        """Give every known case a record; True when some case never got a result (incomplete)."""
        incomplete = False
        for nodeid, case in self.known.items():
            rec = self.records.get((case["key"], case["model"]))
            if rec is None:
                rec = self.records[(case["key"], case["model"])] = CaseRecord(case, nodeid)
            if nodeid in self.crashed:
                rec.crashed = f"worker crashed while running this test ({self.crashed[nodeid]})"
            if "call" not in rec.phases and rec.crashed is None and not _ended_early(rec):
                incomplete = True
        return incomplete

    def hypotheses(self, rerun: Any) -> list[dict[str, Any]]:
        """results.json's "hypotheses": one entry per key, sorted, with results per model."""
        by_key: dict[str, dict[str, Any]] = {}
        for (key, model), rec in sorted(self.records.items(), key=lambda kv: (kv[0][0], _model_rank(kv[0][1]))):
            case = rec.case
            entry = by_key.setdefault(key, {
                "key": key, "id": case["id"], "variant": case["variant"], "claim": case["claim"],
                "source": case["source"], "reason": case["reason"], "file": case["file"], "results": {},
            })
            outcome, message = rec.outcome()
            expected = case["expected"]
            entry["results"][model] = {
                "outcome": outcome,
                "expected": expected,
                "matched": None if outcome == "skipped" else outcome == expected,
                "message": message,
                "evidence": rec.evidence,
                "nodeid": rec.nodeid,
                "rerun": rerun(rec.nodeid),
                "duration_s": round(rec.duration, 4),
            }
        return [by_key[k] for k in sorted(by_key, key=lambda k: (by_key[k]["file"], k))]


def _ended_early(rec: CaseRecord) -> bool:
    """A case whose setup errored or skipped has no call phase but did get a verdict."""
    return rec.phases.get("setup", ("ok", None))[0] in ("error", "skipped")


def _model_rank(model: str) -> int:
    return MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)
