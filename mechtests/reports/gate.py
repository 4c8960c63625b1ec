"""The regression gate: a run against a baseline, as small checks that say what changed.

A baseline holds, per case (hypothesis key and model), the outcome and the scalar metrics of
one run. It is written by `--mech-save-baseline FILE` and read by `--mech-baseline FILE` and
`mechtests compare OLD NEW`, which also accepts two results.json files. How two outcomes
compare is mechtests.claims.outcomes.transition: holds <-> fails, and into or out of error, is a
change and fails the gate; into or out of inconclusive is "unsettled", a warning unless
strict; a case that did not run here (not selected, not collected) or that is not applicable
on either side is not compared, only counted. Metric drift beyond the tolerance is reported.
Nothing in common to compare is an error: such a gate would pass without checking anything.
Nothing here renders anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.claims.outcomes import CHANGE, NOT_COMPARED, NOT_SELECTED, WARNING, from_v1, transition
from mechtests.reports.schema import READABLE_VERSIONS, SCHEMA, check_shape, check_version, load_json, upgrade
from mechtests.run.parsing import Tolerance

BASELINE_SCHEMA = "mechtests-baseline"
BASELINE_VERSION = 2
LISTED = 10  # names listed per category; the rest are counted


def baseline_from_results(results: dict[str, Any]) -> dict[str, Any]:
    """The outcomes and scalar metrics of a results.json dict, keyed "key [model]". Cases that
    were not selected did not run, so they are left out."""
    results = upgrade(results)
    cases: dict[str, Any] = {}
    for hyp in results["hypotheses"]:
        for model, res in hyp["results"].items():
            if res["outcome"] == NOT_SELECTED:
                continue
            metrics = {e["name"]: e["value"] for e in res["evidence"] if isinstance(e["value"], (int, float))}
            cases[f"{hyp['key']} [{model}]"] = {"outcome": res["outcome"], "metrics": metrics}
    run = results["run"]
    return {
        "schema": BASELINE_SCHEMA,
        "schema_version": BASELINE_VERSION,
        "run": {k: run.get(k) for k in ("seed", "pair", "models", "git", "finished", "incomplete", "selection")},
        "cases": cases,
    }


def load_baseline(path: str) -> dict[str, Any]:
    """A baseline file (version 1 or 2), or a results.json converted to one; MechtestsError
    naming the problem for anything else."""
    data = load_json(path, "baseline")
    if data.get("schema") == SCHEMA:
        check_version(data, path, READABLE_VERSIONS, "results")
        check_shape(data, path)
        return _checked(lambda: baseline_from_results(data), path)
    if data.get("schema") != BASELINE_SCHEMA:
        raise MechtestsError(f"{path} is not a mechtests baseline or results file (schema {data.get('schema')!r})",
                             "write one with --mech-save-baseline FILE, or pass a results.json")
    check_version(data, path, (1, BASELINE_VERSION), "baseline")
    return _checked(lambda: _upgrade_baseline(data, path), path)


def _checked(read: Any, path: str) -> dict[str, Any]:
    try:
        return read()
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise MechtestsError(f"{path} is a damaged baseline ({type(err).__name__}: {err})",
                             "save it again with --mech-save-baseline FILE on a known-good run") from None


def _upgrade_baseline(data: dict[str, Any], path: str) -> dict[str, Any]:
    """A version 1 or 2 baseline in the current layout, its fields checked: a metric is a number
    or null (a value that was not finite), never silently skipped."""
    run, cases = data["run"], data["cases"]
    if not isinstance(run, dict) or not isinstance(cases, dict):
        raise TypeError("'run' and 'cases' must be objects")
    upgraded = {}
    for case, entry in cases.items():
        metrics = entry["metrics"]
        if not isinstance(metrics, dict):
            raise TypeError(f"{case}: 'metrics' must be an object")
        for name, value in metrics.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise MechtestsError(f"{path} is a damaged baseline: {case} metric {name!r} is {value!r:.40}, not a number",
                                     "save it again with --mech-save-baseline FILE on a known-good run")
        upgraded[case] = {"outcome": from_v1(entry["outcome"]), "metrics": metrics}
    return {**data, "schema_version": BASELINE_VERSION, "cases": upgraded}


@dataclass(frozen=True)
class Change:
    case: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.case}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class Drift:
    case: str
    metric: str
    old: float
    new: float
    tolerance: str

    def __str__(self) -> str:
        return f"{self.case} {self.metric}: {self.old:.4g} -> {self.new:.4g} (beyond {self.tolerance})"


def compare(old: dict[str, Any], new: dict[str, Any], tolerance: Tolerance, strict: bool = False) -> dict[str, Any]:
    """Compare two baselines, as plain data: "changed" (fails the gate), "unsettled" (into or out
    of inconclusive: a warning), "drift", "missing" (baseline cases that did not run here),
    "not_compared" (not applicable on either side), "new", "compared" (how many), "notes".
    MechtestsError when nothing at all could be compared."""
    changed: list[Change] = []
    unsettled: list[Change] = []
    drift: list[Drift] = []
    not_compared: list[str] = []
    old_cases, new_cases = old["cases"], new["cases"]
    common = sorted(set(old_cases) & set(new_cases))
    for case in common:
        a, b = old_cases[case], new_cases[case]
        step = transition(a["outcome"], b["outcome"], strict)
        if step == NOT_COMPARED:
            not_compared.append(case)
            continue
        if step in (CHANGE, WARNING):
            (changed if step == CHANGE else unsettled).append(Change(case, a["outcome"], b["outcome"]))
        for metric in sorted(set(a["metrics"]) & set(b["metrics"])):
            x, y = a["metrics"][metric], b["metrics"][metric]
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not tolerance.allows(x, y):
                drift.append(Drift(case, metric, x, y, str(tolerance)))
    compared = len(common) - len(not_compared)
    if compared == 0:
        raise MechtestsError(
            f"the baseline and this run have no judged result in common ({len(old_cases)} case(s) in the baseline, "
            f"{len(new_cases)} in this run, {len(common)} shared, none judged in both)",
            "pass a baseline saved from the same suite (--mech-save-baseline FILE), or select hypotheses it holds",
        )
    return {
        "changed": [asdict(c) for c in changed],
        "unsettled": [asdict(c) for c in unsettled],
        "drift": [asdict(d) for d in drift],
        "missing": sorted(set(old_cases) - set(new_cases)),
        "not_compared": not_compared,
        "new": sorted(set(new_cases) - set(old_cases)),
        "compared": compared,
        "baseline_cases": len(old_cases),
        "tolerance": str(tolerance),
        "strict": strict,
        "notes": _notes(old["run"], new["run"]),
    }


def _notes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    notes = []
    if old.get("seed") != new.get("seed"):
        notes.append(f"seeds differ: baseline {old.get('seed')}, this run {new.get('seed')}")
    if old.get("incomplete"):
        notes.append("the baseline comes from an incomplete run")
    old_models, new_models = old.get("models") or {}, new.get("models") or {}
    for role in sorted(set(old_models) & set(new_models)):
        a, b = (old_models[role] or {}).get("weights_sha256"), (new_models[role] or {}).get("weights_sha256")
        if a and b and a != b:
            notes.append(f"the baseline's {role} has other weights (sha256 {a[:12]}, this run {b[:12]}): "
                         "a changed verdict may be the checkpoint's")
    return notes


def failed(comparison: dict[str, Any]) -> bool:
    """The gate: True when some verdict changed."""
    return bool(comparison["changed"])


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f", and {len(names) - LISTED} more" if len(names) > LISTED else "")


def describe(comparison: dict[str, Any], baseline_name: str) -> list[str]:
    """Plain-text lines: what changed (the gate), then what is unsettled, drifted, did not run or is new."""
    lines: list[str] = []
    changed = comparison["changed"]
    if changed:
        lines.append(f"{len(changed)} verdict(s) changed against {baseline_name}:")
        lines += [f"  {Change(**c)}" for c in changed]
    else:
        lines.append(f"no verdict changed against {baseline_name} ({comparison['compared']} result(s) compared)")
    if comparison["unsettled"]:
        lines.append(f"{len(comparison['unsettled'])} verdict(s) moved into or out of inconclusive (warning; "
                     "--mech-strict makes it a change):")
        lines += [f"  {Change(**c)}" for c in comparison["unsettled"]]
    if comparison["drift"]:
        lines.append(f"{len(comparison['drift'])} metric(s) drifted beyond {comparison['tolerance']} (warning):")
        lines += [f"  {Drift(**d)}" for d in comparison["drift"]]
    if comparison["missing"]:
        lines.append(f"{len(comparison['missing'])} of {comparison['baseline_cases']} baseline result(s) were not run "
                     f"here (not selected or not collected): {_listed(comparison['missing'])}")
    if comparison["not_compared"]:
        lines.append(f"{len(comparison['not_compared'])} result(s) not compared (not applicable in one of the runs): "
                     + _listed(comparison["not_compared"]))
    if comparison["new"]:
        lines.append(f"{len(comparison['new'])} case(s) not in the baseline: " + _listed(comparison["new"]))
    lines += [f"note: {n}" for n in comparison["notes"]]
    return lines
