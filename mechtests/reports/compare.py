"""The regression gate: a run against a baseline, as small checks that say what changed.

A baseline holds, per case (hypothesis key and model), the verdict and the scalar metrics
of one run. It is written by `--mech-save-baseline FILE` and read by `--mech-baseline FILE`
and `mechtests compare OLD NEW`, which also accepts two results.json files. The gate fails
when a verdict changed; metric drift beyond the tolerance, cases missing from the new run and
new cases are reported but do not fail it. Nothing here renders anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.reports.schema import SCHEMA, load_json

BASELINE_SCHEMA = "mechtests-baseline"
BASELINE_VERSION = 1


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move before it is reported as drift: relative (`10%`) or absolute (`0.05`)."""

    amount: float
    relative: bool

    def allows(self, old: float, new: float) -> bool:
        limit = self.amount * abs(old) if self.relative else self.amount
        return abs(new - old) <= limit + 1e-12

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"


def parse_tolerance(value: Any) -> Tolerance:
    text = str(value).strip()
    relative = text.endswith("%")
    try:
        amount = float(text[:-1] if relative else text)
        if amount < 0 or amount != amount:
            raise ValueError
    except ValueError:
        raise MechtestsError(
            f"tolerance must be a percentage or a non-negative number, got {value!r}",
            "e.g. --mech-tolerance 10% (relative) or --mech-tolerance 0.05 (absolute)",
        ) from None
    return Tolerance(amount / 100 if relative else amount, relative)


def baseline_from_results(results: dict[str, Any]) -> dict[str, Any]:
    """The verdicts and scalar metrics of a results.json dict, keyed "key [model]"."""
    cases: dict[str, Any] = {}
    for hyp in results["hypotheses"]:
        for model, res in hyp["results"].items():
            metrics = {e["name"]: e["value"] for e in res["evidence"] if isinstance(e["value"], (int, float))}
            cases[f"{hyp['key']} [{model}]"] = {"outcome": res["outcome"], "metrics": metrics}
    run = results["run"]
    return {
        "schema": BASELINE_SCHEMA,
        "schema_version": BASELINE_VERSION,
        "run": {k: run.get(k) for k in ("seed", "pair", "models", "git", "finished", "incomplete")},
        "cases": cases,
    }


def load_baseline(path: str) -> dict[str, Any]:
    """A baseline file, or a results.json converted to one."""
    data = load_json(path, "baseline")
    if data.get("schema") == SCHEMA:
        return baseline_from_results(data)
    if data.get("schema") != BASELINE_SCHEMA or data.get("schema_version") != BASELINE_VERSION:
        raise MechtestsError(
            f"{path} is not a mechtests baseline (schema {data.get('schema')!r} v{data.get('schema_version')!r})",
            "write one with --mech-save-baseline FILE, or pass a results.json",
        )
    return data


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


def compare(old: dict[str, Any], new: dict[str, Any], tolerance: Tolerance) -> dict[str, Any]:
    """Compare two baselines. Returns {"changed", "drift", "missing", "new", "notes"} as plain data."""
    changed: list[Change] = []
    drift: list[Drift] = []
    old_cases, new_cases = old["cases"], new["cases"]
    for case in sorted(set(old_cases) & set(new_cases)):
        a, b = old_cases[case], new_cases[case]
        if a["outcome"] != b["outcome"]:
            changed.append(Change(case, a["outcome"], b["outcome"]))
        for metric in sorted(set(a["metrics"]) & set(b["metrics"])):
            x, y = a["metrics"][metric], b["metrics"][metric]
            if x is not None and y is not None and not tolerance.allows(x, y):
                drift.append(Drift(case, metric, x, y, str(tolerance)))
    notes = []
    if old["run"].get("seed") != new["run"].get("seed"):
        notes.append(f"seeds differ: baseline {old['run'].get('seed')}, this run {new['run'].get('seed')}")
    if old["run"].get("incomplete"):
        notes.append("the baseline comes from an incomplete run")
    return {
        "changed": [asdict(c) for c in changed],
        "drift": [asdict(d) for d in drift],
        "missing": sorted(set(old_cases) - set(new_cases)),
        "new": sorted(set(new_cases) - set(old_cases)),
        "tolerance": str(tolerance),
        "notes": notes,
    }


def failed(comparison: dict[str, Any]) -> bool:
    """The gate: True when some verdict changed."""
    return bool(comparison["changed"])


def describe(comparison: dict[str, Any], baseline_name: str) -> list[str]:
    """Plain-text lines: what changed (the gate), then what drifted, went missing or is new."""
    lines: list[str] = []
    changed = comparison["changed"]
    if changed:
        lines.append(f"{len(changed)} verdict(s) changed against {baseline_name}:")
        lines += [f"  {Change(**c)}" for c in changed]
    else:
        lines.append(f"no verdict changed against {baseline_name}")
    if comparison["drift"]:
        lines.append(f"{len(comparison['drift'])} metric(s) drifted beyond {comparison['tolerance']} (warning):")
        lines += [f"  {Drift(**d)}" for d in comparison["drift"]]
    if comparison["missing"]:
        lines.append(f"{len(comparison['missing'])} case(s) in the baseline did not run: " + ", ".join(comparison["missing"]))
    if comparison["new"]:
        lines.append(f"{len(comparison['new'])} case(s) not in the baseline: " + ", ".join(comparison["new"]))
    lines += [f"note: {n}" for n in comparison["notes"]]
    return lines
