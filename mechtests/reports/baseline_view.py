"""What changed against the baseline, as rows both report.html and summary.md put first.

The gate (reports/gate.py) decides what changed; this module only gathers, for each
changed verdict and each drifted metric, the old and the new values with their intervals, so
that a reader sees both sides without opening another file. New values come from the run's
results.json; old values from the baseline (a baseline file keeps values, a results.json
also keeps intervals).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.claims.evidence import fmt
from mechtests.reports import gate
from mechtests.reports.matrix import key_evidence
from mechtests.reports.schema import SCHEMA, load_json


@dataclass(frozen=True)
class Value:
    """A number and its interval (None where the file holds none)."""

    value: float | None
    ci: tuple[float | None, float | None] | None = None


@dataclass(frozen=True)
class MetricRow:
    name: str
    old: Value | None
    new: Value | None
    threshold: float | None = None


@dataclass(frozen=True)
class ChangedRow:
    case: str
    old: str
    new: str
    anchor: tuple[str, str]  # (hypothesis key, model): where its evidence is in this run
    metrics: list[MetricRow] = field(default_factory=list)


@dataclass(frozen=True)
class DriftRow:
    case: str
    anchor: tuple[str, str]
    metric: MetricRow


@dataclass(frozen=True)
class BaselineView:
    file: str
    tolerance: str
    changed: list[ChangedRow]
    unsettled: list[ChangedRow]  # into or out of inconclusive: a warning unless --mech-strict
    drift: list[DriftRow]
    missing: list[str]
    new: list[str]
    notes: list[str]
    error: str | None = None  # the gate could not compare (a bad or incompatible baseline)


class _Side:
    """Evidence of one run, looked up by case ("key [model]") and metric name."""

    def __init__(self, results: dict[str, Any] | None = None, cases: dict[str, Any] | None = None) -> None:
        self.evidence: dict[str, list[dict[str, Any]]] = {}
        for hyp in (results or {}).get("hypotheses", []):
            for model, res in hyp["results"].items():
                self.evidence[f"{hyp['key']} [{model}]"] = [ev for ev in res["evidence"] if not isinstance(ev["value"], list)]
        self.cases = cases or {}

    def value(self, case: str, metric: str) -> Value | None:
        for ev in self.evidence.get(case, []):
            if ev["name"] == metric:
                return Value(ev["value"], tuple(ev["ci"]) if ev.get("ci") else None)
        metrics = self.cases.get(case, {}).get("metrics", {})
        return Value(metrics[metric]) if metric in metrics else None

    def key_metrics(self, case: str) -> list[dict[str, Any]]:
        return key_evidence(self.evidence.get(case, []))


def split_case(case: str) -> tuple[str, str]:
    """'overlap[ioi] [pair]' -> ('overlap[ioi]', 'pair')."""
    key, _, model = case.rpartition(" [")
    return (key, model.rstrip("]")) if key else (case, "")


def read_old(path: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(baseline, results or None) from a baseline file or a results.json."""
    data = load_json(path, "baseline")
    baseline = gate.load_baseline(path)
    return baseline, data if data.get("schema") == SCHEMA else None


def baseline_view(results: dict[str, Any], old_results: dict[str, Any] | None = None,
                  old_baseline: dict[str, Any] | None = None) -> BaselineView | None:
    """The rows for results["baseline"] (None when the run had no baseline)."""
    comparison = results.get("baseline")
    if not comparison:
        return None
    if comparison.get("error"):
        return BaselineView(str(comparison.get("file", "")), "", [], [], [], [], [], [], error=str(comparison["error"]))
    if old_results is None and old_baseline is None:
        try:
            old_baseline, old_results = read_old(comparison["file"])
        except (MechtestsError, KeyError, TypeError):
            pass  # the file moved or changed since the gate read it: old values show as unknown
    new_side = _Side(results)
    old_side = _Side(old_results, (old_baseline or {}).get("cases"))

    def moved(c: dict[str, Any]) -> ChangedRow:
        names = [ev["name"] for ev in new_side.key_metrics(c["case"])] or [ev["name"] for ev in old_side.key_metrics(c["case"])]
        thresholds = {ev["name"]: ev.get("threshold") for ev in new_side.key_metrics(c["case"])}
        rows = [MetricRow(n, old_side.value(c["case"], n), new_side.value(c["case"], n), thresholds.get(n)) for n in names]
        return ChangedRow(c["case"], c["old"], c["new"], split_case(c["case"]), rows)

    drift = [
        DriftRow(d["case"], split_case(d["case"]), MetricRow(
            d["metric"], _with_value(old_side.value(d["case"], d["metric"]), d["old"]),
            _with_value(new_side.value(d["case"], d["metric"]), d["new"])))
        for d in comparison.get("drift", [])
    ]
    return BaselineView(str(comparison.get("file", "")), str(comparison.get("tolerance", "")),
                        [moved(c) for c in comparison.get("changed", [])], [moved(c) for c in comparison.get("unsettled", [])], drift,
                        list(comparison.get("missing", [])), list(comparison.get("new", [])), list(comparison.get("notes", [])))


def _with_value(found: Value | None, value: float | None) -> Value:
    """The gate's number, with the interval the run recorded for it when there is one."""
    return Value(value, found.ci if found is not None else None)


def interval_text(v: Value | None) -> str:
    """'0.52 [0.48, 0.57]', '0.52', or '-' when the file holds no value."""
    if v is None:
        return "-"
    text = fmt(v.value)
    if v.ci:
        text += f" [{fmt(v.ci[0])}, {fmt(v.ci[1])}]"
    return text
