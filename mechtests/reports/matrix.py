"""The hypothesis x model matrix that every renderer shows, computed once from results.json.

In a multi-seed run (--mech-seeds, issue #12) a cell's outcome is the replicated verdict (the
common one when every seed agrees, else inconclusive: mechtests.plugin.seeds), and `seed_note`
says what each seed gave, so a seed-dependent verdict is flagged wherever the matrix is shown.
"""

from __future__ import annotations

from typing import Any, Sequence

from mechtests.claims.expectations import HYPOTHESES, describe
from mechtests.claims.outcomes import ERROR, HOLDS, MISMATCH, NOT_APPLICABLE, NOT_SELECTED, OK, REPORTED, WARNING, grade
from mechtests.reports.schema import totals

MODEL_ORDER = ("arm", "mdm", "pair")
# How each outcome is named in a cell, where its name alone says it all.
PLAIN_NAMES = {ERROR: "error", NOT_APPLICABLE: "not applicable", NOT_SELECTED: "not selected"}
# Grades a reader must look at: red ones, and warnings.
ATTENTION = (MISMATCH, ERROR, WARNING)
KEY_EVIDENCE = 6  # at most this many values where a result is summed up (a changed verdict, a seed's row)


ONE_MODEL = "none (one-model run)"  # a results.json model entry with no path: left out of the run


def columns(results: dict[str, Any]) -> list[str]:
    """The model columns present in this run, in the order arm, mdm, pair."""
    present = {m for hyp in results["hypotheses"] for m in hyp["results"]}
    return [m for m in MODEL_ORDER if m in present] + sorted(present - set(MODEL_ORDER))


def cell_text(res: dict[str, Any] | None) -> str:
    """`holds`, `fails (expected)`, `holds (expected fails!)`, `inconclusive (expected holds?)`,
    `error`, `not applicable`, `not selected`, or `-`; a verdict with no expectation, bare."""
    if res is None:
        return "-"
    outcome = res["outcome"]
    if outcome in PLAIN_NAMES:
        return outcome_name(outcome)
    graded = status(res)
    if graded == REPORTED:
        return outcome
    if graded == OK:
        return outcome if res["expected"] == HOLDS else f"{outcome} (expected)"
    return f"{outcome} (expected {res['expected']}{'?' if graded == WARNING else '!'})"


def status(res: dict[str, Any] | None) -> str:
    """The result's grade (ok, warning, mismatch, error, not_applicable, not_selected), or none:
    how a cell is coloured."""
    if res is None:
        return "none"
    return res.get("grade") or grade(res["outcome"], res["expected"])


def needs_attention(res: dict[str, Any] | None) -> bool:
    return status(res) in ATTENTION


def outcome_name(outcome: str) -> str:
    return PLAIN_NAMES.get(outcome, outcome)


def key_evidence(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scalar values a result is decided on: those with a threshold (else all), at most KEY_EVIDENCE."""
    scalars = [ev for ev in evidence if not isinstance(ev["value"], list)]
    thresholded = [ev for ev in scalars if ev.get("threshold") is not None]
    return (thresholded or scalars)[:KEY_EVIDENCE]


def seed_span(seeds: Sequence[int]) -> str:
    """[0, 1, 2, 3] -> '0-3'; [0, 2, 3, 5] -> '0, 2-3, 5'."""
    runs: list[list[int]] = []
    for s in sorted(seeds):
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def budget_text(run: dict[str, Any]) -> str:
    """The budget that ran, as the header shows it: its name and candidates per task."""
    budget = run.get("budget")
    if isinstance(budget, dict):
        return f"{budget.get('name')} ({budget.get('candidates')} candidates)"
    return str(budget) if budget else "not recorded"


def resolved_setting(run: dict[str, Any], field: str) -> str:
    """The option as chosen, and where it resolved to on the loaded models when that differs
    ("auto (cpu)"): the header should say where the run ran, not only what was asked."""
    chosen = str(run.get(field))
    actual = sorted({str(m[field]) for m in run.get("models", {}).values() if m.get(field)})
    return chosen if not actual or actual == [chosen] else f"{chosen} ({', '.join(actual)})"


def expectations_text(run: dict[str, Any]) -> str:
    """Which expectations the run judged its verdicts against (mechtests.claims.expectations)."""
    return describe(run.get("expectations"))


def seed_dependent(res: dict[str, Any] | None) -> bool:
    """A multi-seed result whose verdict differs between seeds."""
    return res is not None and res.get("agreement") is False


def multi_seed(results: dict[str, Any]) -> bool:
    """Was this a --mech-seeds run."""
    return bool(results["run"].get("seeds"))


def seed_note(res: dict[str, Any] | None, multi: bool = False) -> str:
    """What each evaluation seed gave, for a result of a multi-seed run (`multi`): `seed 0`, `same
    at seeds 0-3`, `seed-dependent: holds at 0, 2; fails at 1, 3`, or `ran once (takes no seed)`
    for a hypothesis that does not depend on the seed; '' in a single-seed run."""
    per_seed = (res or {}).get("seeds")
    if not per_seed:
        return "ran once (takes no seed)" if multi and res is not None else ""
    seeds = [s["seed"] for s in per_seed]
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if not seed_dependent(res):
        return f"same at seeds {seed_span(seeds)}"
    by_outcome: dict[str, list[int]] = {}
    for s in per_seed:
        by_outcome.setdefault(s["outcome"], []).append(s["seed"])
    return "seed-dependent: " + "; ".join(f"{outcome_name(o)} at {seed_span(ss)}" for o, ss in by_outcome.items())


def headline(results: dict[str, Any]) -> str:
    t = totals(results["hypotheses"])
    run = results["run"]
    n_hyp = len(results["hypotheses"])
    n_res = sum(len(h["results"]) for h in results["hypotheses"])
    parts = [f"{n_hyp} hypothes{'i' if n_hyp == 1 else 'e'}s, {n_res} results: {t['matched']} as expected, "
             f"{t['mismatched']} not"]
    unexpected = sum(status(r) == REPORTED for h in results["hypotheses"] for r in h["results"].values())
    if unexpected:
        parts.append(f"{unexpected} without expectation")
    for key, label in (("warnings", "warnings"), (ERROR, "errors"), ("inconclusive", "inconclusive"),
                       (NOT_APPLICABLE, "not applicable"), (NOT_SELECTED, "not selected")):
        if t[key]:
            parts.append(f"{t[key]} {label}")
    text = ", ".join(parts) + f" ({_seeds_of_run(results)})"
    if (run.get("expectations") or {}).get("source", HYPOTHESES) != HYPOTHESES:
        text += f"; expectations: {expectations_text(run)}"
    if run.get("incomplete"):
        text += " - INCOMPLETE run"
    return text


def _seeds_of_run(results: dict[str, Any]) -> str:
    """`seed 0`, or for a multi-seed run the seeds and how many results depend on them."""
    seeds = results["run"].get("seeds")
    if not multi_seed(results):
        return f"seed {results['run']['seed']}"
    n = sum(seed_dependent(r) for h in results["hypotheses"] for r in h["results"].values())
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if not n:
        return f"seeds {seed_span(seeds)}: every verdict the same at each seed"
    return f"seeds {seed_span(seeds)}: {n} result{'' if n == 1 else 's'} seed-dependent"
