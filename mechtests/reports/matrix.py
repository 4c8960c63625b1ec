"""The hypothesis x model matrix that every renderer shows, computed once from results.json."""

from __future__ import annotations

from typing import Any

from mechtests.reports.schema import totals

MODEL_ORDER = ("arm", "mdm", "pair")


def columns(results: dict[str, Any]) -> list[str]:
    """The model columns present in this run, in the order arm, mdm, pair."""
    present = {m for hyp in results["hypotheses"] for m in hyp["results"]}
    return [m for m in MODEL_ORDER if m in present] + sorted(present - set(MODEL_ORDER))


def cell_text(res: dict[str, Any] | None) -> str:
    """`holds`, `fails (expected)`, `holds (expected fails!)`, `error`, `skipped`, or `-`."""
    if res is None:
        return "-"
    outcome = res["outcome"]
    if outcome in ("error", "skipped"):
        return outcome
    if res["matched"]:
        return outcome if res["expected"] == "holds" else f"{outcome} (expected)"
    return f"{outcome} (expected {res['expected']}!)"


def status(res: dict[str, Any] | None) -> str:
    """ok, mismatch, error, skipped or none: how a cell is coloured."""
    if res is None:
        return "none"
    if res["outcome"] in ("error", "skipped"):
        return res["outcome"]
    return "ok" if res["matched"] else "mismatch"


def headline(results: dict[str, Any]) -> str:
    t = totals(results["hypotheses"])
    run = results["run"]
    n_hyp = len(results["hypotheses"])
    n_res = sum(t[k] for k in ("holds", "fails", "error", "skipped"))
    parts = [f"{n_hyp} hypothes{'i' if n_hyp == 1 else 'e'}s, {n_res} results: {t['matched']} as expected, "
             f"{t['mismatched']} not"]
    if t["error"]:
        parts.append(f"{t['error']} errors")
    if t["skipped"]:
        parts.append(f"{t['skipped']} skipped")
    text = ", ".join(parts) + f" (seed {run['seed']})"
    if run.get("incomplete"):
        text += " - INCOMPLETE run"
    return text
