"""From pytest items and reports to per-case results, keyed by a stable id.

A *case* is one hypothesis on one model: (key, model) where key is the hypothesis id plus any
non-model parameters (`overlap[ioi]`) and model is "arm", "mdm" or "pair". Results are keyed
by case, never by node id (which xdist's --dist loadgroup suffixes with `@group`), so they do
not depend on how tests were scheduled.

Worker side: `case_of(item)` at collection, and each test phase's outcome
(mechtests.plugin.verdicts); both go into the report's user_properties as plain dicts. Controller side:
`Collector` gathers them from every report it sees, in any order, and
`Collector.hypotheses()` turns them into the per-hypothesis entries of results.json.
Deselected cases (-k, -m, --deselect) come in as `add_deselected` and become not_selected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mechtests.claims.hypotheses import default_id, hypothesis_of
from mechtests.claims.outcomes import ERROR, NOT_APPLICABLE, NOT_SELECTED, grade
from mechtests.plugin.expectations import expectations_of

CASE_PROP = "mechtests.case"
PART_PROP = "mechtests.part_failed"  # a part item's failure, for the hypothesis it measured for (mechtests.plugin.parts)
EVIDENCE_PROP = "mechtests.claims.evidence"
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
    """The node id without xdist's `@mechtests-<group>` suffix (added under --dist loadgroup).

    xdist rewrites node ids to carry the group (pytest-dev/pytest-xdist#1119 would stop that;
    #1386 is how it breaks under pytest 9.2). Keep this while any supported xdist suffixes ids."""
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
    key = hid + (f"[{variant}]" if variant else "")
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
        "key": key,
        "id": hid,
        "variant": variant,
        "model": model,
        "claim": hyp.claim if hyp else "",
        "source": hyp.source if hyp else None,
        "reason": hyp.reason if hyp else None,
        "expected": expectations_of(item.config).expected(hyp, key, model),  # the run's (mechtests.claims.expectations)
        "file": item.location[0],
        "problem": problem,
    }


@dataclass
class CaseRecord:
    case: dict[str, Any]
    nodeid: str
    phases: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0
    crashed: str | None = None
    deselected: bool = False
    failed_part: str | None = None  # a part of this hypothesis that failed: the measurement broke


    def outcome(self) -> tuple[str, str | None]:
        """One outcome from the phases: an error anywhere wins, then what setup reached (a
        fixture may raise NotApplicable or ClaimFailed), then the call's."""
        if self.crashed is not None:
            return ERROR, self.crashed
        if self.deselected:
            return NOT_SELECTED, "deselected (-k, -m or --deselect): not run"
        if self.failed_part is not None:
            return ERROR, self.failed_part
        for when in ("setup", "call", "teardown"):
            outcome, message = self.phases.get(when, (None, None))
            if outcome == ERROR:
                return ERROR, message if when != "teardown" else f"error in teardown: {message}"
        setup = self.phases.get("setup", (None, None))
        if setup[0] is not None:
            return setup  # type: ignore[return-value]
        if "call" not in self.phases:
            return ERROR, NOT_RUN
        return self.phases["call"]  # type: ignore[return-value]


NOT_RUN = "not run: the run stopped before this test"


class Collector:
    """Gathers cases from reports (any order, any worker) and builds results.json entries."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], CaseRecord] = {}
        self.known: dict[str, dict[str, Any]] = {}  # nodeid -> case, from collection anywhere
        self.deselected: dict[str, dict[str, Any]] = {}  # nodeid -> case, deselected anywhere
        self.models: dict[str, dict[str, Any]] = {}
        self.crashed: dict[str, str] = {}  # nodeid -> message
        self.failed_parts: dict[str, str] = {}  # hypothesis nodeid -> what its failed part raised

    def add_known(self, cases: dict[str, dict[str, Any]]) -> None:
        for nodeid, case in cases.items():
            self.known.setdefault(base_nodeid(nodeid), case)

    def add_deselected(self, cases: dict[str, dict[str, Any]]) -> None:
        """Under -n N a worker's node ids carry xdist's group suffix, which pytest rejects in a rerun command."""
        for nodeid, case in cases.items():
            self.deselected.setdefault(base_nodeid(nodeid), case)

    def add_report(self, report: pytest.TestReport) -> None:
        nodeid = base_nodeid(report.nodeid)
        case = None
        evidence = []
        status = None
        for name, value in report.user_properties:
            if name == CASE_PROP:
                case, status = value["case"], (value["outcome"], value["message"])
            elif name == EVIDENCE_PROP:
                evidence.append(value)
            elif name == PART_PROP:
                self.failed_parts.setdefault(base_nodeid(value["of"]), value["message"])
            elif name == MODEL_PROP:
                self.models.setdefault(value["role"], {k: value.get(k) for k in ("path", "weights_sha256", "device", "dtype")})
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
        return bool(self.known or self.records or self.deselected)

    def finish(self) -> bool:
        """Give every known case a record; True when some case never got a result (incomplete).
        A deselected case was not meant to run: it is not_selected, and the run stays complete."""
        incomplete = False
        for nodeid, case in self.deselected.items():
            slot = (case["key"], case["model"])
            if slot not in self.records:
                self.records[slot] = CaseRecord(case, nodeid, deselected=True)
        for nodeid, case in self.known.items():
            if nodeid in self.deselected:
                continue
            rec = self.records.get((case["key"], case["model"]))
            if rec is None:
                rec = self.records[(case["key"], case["model"])] = CaseRecord(case, nodeid)
            rec.failed_part = self.failed_parts.get(nodeid)
            if nodeid in self.crashed:
                rec.crashed = f"worker crashed while running this test ({self.crashed[nodeid]})"
            if "call" not in rec.phases and rec.crashed is None and not rec.deselected and not _ended_early(rec):
                incomplete = True
        return incomplete

    def hypotheses(self, rerun: Any, strict: bool = False) -> list[dict[str, Any]]:
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
                "grade": grade(outcome, expected, strict),
                "matched": matched(outcome, expected),
                "message": message,
                "evidence": rec.evidence,
                "nodeid": rec.nodeid,
                "rerun": rerun(rec.nodeid),
                "duration_s": round(rec.duration, 4),
                "seeds": None,  # reserved for --mech-seeds (issue #12): one entry per seed
                "agreement": None,  # reserved: do the per-seed verdicts agree
            }
        return [by_key[k] for k in sorted(by_key, key=lambda k: (by_key[k]["file"], k))]


def matched(outcome: str, expected: str | None) -> bool | None:
    """Did the claim come out as expected: None when it was not judged (not applicable, not
    selected) or had no expectation."""
    if outcome in (NOT_APPLICABLE, NOT_SELECTED) or expected is None:
        return None
    return outcome == expected


def _ended_early(rec: CaseRecord) -> bool:
    """A case whose setup raised (error, not applicable, a failed claim) has no call phase but
    did get an outcome."""
    return rec.phases.get("setup", (None, None))[0] is not None


def _model_rank(model: str) -> int:
    return MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)
