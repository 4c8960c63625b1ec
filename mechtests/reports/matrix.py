"""The hypothesis x model matrix that every renderer shows, computed once from results.json."""

from __future__ import annotations

from typing import Any

from mechtests.outcomes import ERROR, HOLDS, MISMATCH, NOT_APPLICABLE, NOT_SELECTED, OK, WARNING, grade
from mechtests.reports.schema import totals

MODEL_ORDER = ("arm", "mdm", "pair")
# How each outcome is named in a cell, where its name alone says it all.
PLAIN_NAMES = {ERROR: "error", NOT_APPLICABLE: "not applicable", NOT_SELECTED: "not selected"}
# Grades a reader must look at: red ones, and warnings.
ATTENTION = (MISMATCH, ERROR, WARNING)


def columns(results: dict[str, Any]) -> list[str]:
    """The model columns present in this run, in the order arm, mdm, pair."""
    present = {m for hyp in results["hypotheses"] for m in hyp["results"]}
    return [m for m in MODEL_ORDER if m in present] + sorted(present - set(MODEL_ORDER))


def cell_text(res: dict[str, Any] | None) -> str:
    """`holds`, `fails (expected)`, `holds (expected fails!)`, `inconclusive (expected holds?)`,
    `error`, `not applicable`, `not selected`, or `-`."""
    if res is None:
        return "-"
    outcome = res["outcome"]
    if outcome in PLAIN_NAMES:
        return PLAIN_NAMES[outcome]
    graded = status(res)
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


def headline(results: dict[str, Any]) -> str:
    t = totals(results["hypotheses"])
    run = results["run"]
    n_hyp = len(results["hypotheses"])
    n_res = sum(len(h["results"]) for h in results["hypotheses"])
    parts = [f"{n_hyp} hypothes{'i' if n_hyp == 1 else 'e'}s, {n_res} results: {t['matched']} as expected, "
             f"{t['mismatched']} not"]
    for key, label in (("warnings", "warnings"), (ERROR, "errors"), ("inconclusive", "inconclusive"),
                       (NOT_APPLICABLE, "not applicable"), (NOT_SELECTED, "not selected")):
        if t[key]:
            parts.append(f"{t[key]} {label}")
    text = ", ".join(parts) + f" (seed {run['seed']})"
    if run.get("incomplete"):
        text += " - INCOMPLETE run"
    return text
