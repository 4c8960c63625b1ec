"""Multi-seed runs in the reports (issue #12): per-seed verdicts, their agreement and the replicated
verdict in report.html, summary.md and the terminal matrix, from fake results (no model runs)."""

from __future__ import annotations

import re
from typing import Any

from mechtests.claims.outcomes import grade
from mechtests.plugin import seeds
from mechtests.reports.matrix import seed_note, seed_span
from mechtests.reports.render_html import render_html
from mechtests.reports.render_markdown import render_markdown
from mechtests.reports.render_terminal import render_terminal
from mechtests.reports.schema import totals


def _entry(key: str, seed: int, outcomes: dict[str, str], ratio: float) -> dict[str, Any]:
    """One per-seed results.json entry, as the collector writes it before `seeds.combine`."""
    results = {
        model: {"outcome": outcome, "expected": "holds", "grade": grade(outcome, "holds"), "matched": outcome == "holds",
                "message": None if outcome == "holds" else f"ratio {ratio} below 2 at seed {seed}",
                "evidence": [{"name": "ratio to random", "value": ratio, "ci": [ratio - 0.2, ratio + 0.2], "threshold": 2.0, "extra": {}},
                             {"name": "drop", "value": 0.5, "ci": None, "threshold": None, "extra": {}}],
                "nodeid": f"suites/x.py::test_{key}[{model}-seed{seed}]", "rerun": f"pytest suites/x.py::test_{key} --mech-seed {seed}",
                "duration_s": 0.1, "seeds": None, "agreement": None}
        for model, outcome in outcomes.items()
    }
    return {"key": f"x.{key}[seed{seed}]", "id": f"x.{key}", "variant": f"seed{seed}", "claim": "c", "source": None,
            "reason": None, "file": "suites/x.py", "results": results}


def _results(per_seed: dict[int, dict[str, dict[str, str]]]) -> dict[str, Any]:
    """A results.json of a multi-seed run: seed -> hypothesis -> model -> outcome."""
    entries = [_entry(key, seed, outcomes, 2.1 if "fails" not in outcomes.values() else 1.5)
               for seed, hyps in per_seed.items() for key, outcomes in hyps.items()]
    hypotheses = seeds.combine(entries)
    run = {"seed": 0, "seeds": sorted(per_seed), "pair": "tiny", "models": {"arm": {"path": "a", "weights_sha256": "a" * 64}},
           "incomplete": False}
    return {"schema": "mechtests-results", "schema_version": 2, "run": run, "totals": totals(hypotheses),
            "hypotheses": hypotheses, "baseline": None, "problems": []}


STEADY = {"steady": {"arm": "holds", "mdm": "holds"}}
FLIP = {0: {**STEADY, "causal": {"pair": "holds"}}, 1: {**STEADY, "causal": {"pair": "fails"}}}


def test_seed_spans_and_notes() -> None:
    assert seed_span([0, 1, 2, 3]) == "0-3"
    assert seed_span([5, 0, 2, 3]) == "0, 2-3, 5"
    assert seed_note({"outcome": "holds", "seeds": None}) == ""  # a single-seed run
    flip = _results(FLIP)["hypotheses"][1]["results"]["pair"]
    assert seed_note(flip) == "seed-dependent: holds at 0; fails at 1"


def test_one_seed_shows_that_seed_and_no_flag() -> None:
    results = _results({3: STEADY})
    [hyp] = results["hypotheses"]
    assert hyp["key"] == "x.steady" and hyp["results"]["arm"]["agreement"] is True
    lines = render_terminal(results)
    assert lines[0].endswith("(seed 3)")
    assert lines[2].split() == ["x.steady", "holds", "holds"] and len(lines) == 3  # no per-seed line
    summary = render_markdown(results)
    assert "| x.steady | ✅ holds<br>seed 3 | ✅ holds<br>seed 3 |" in summary
    page = render_html(results)
    assert "<span class='seeds'>seed 3</span>" in page and "seeds differ" not in page
    assert page.count("<th>seed</th>") == 2  # one per-seed table per model


def test_two_seeds_with_a_flip_are_flagged_and_inconclusive() -> None:
    results = _results(FLIP)
    causal = next(h for h in results["hypotheses"] if h["key"] == "x.causal")["results"]["pair"]
    assert causal["outcome"] == "inconclusive" and causal["agreement"] is False  # the replicated verdict
    assert [s["outcome"] for s in causal["seeds"]] == ["holds", "fails"]

    lines = render_terminal(results)
    assert lines[0].endswith("(seeds 0-1: 1 result seed-dependent)")
    row = next(i for i, line in enumerate(lines) if line.startswith("x.causal"))
    assert lines[row].split()[-4:] == ["inconclusive", "(expected", "holds?)", "<-?"]
    assert lines[row + 1].strip() == "[pair] seed-dependent: holds at 0; fails at 1"
    assert not any("seed-dependent" in line for line in lines if line.startswith("x.steady"))

    summary = render_markdown(results)
    assert "⚠️ inconclusive (expected holds?)<br>seed-dependent: holds at 0; fails at 1 |" in summary
    assert "| x.steady | ✅ holds<br>same at seeds 0-1 | ✅ holds<br>same at seeds 0-1 | - |" in summary
    assert "  - seed 0: **holds** - ratio to random = 2.1 \\[1.9, 2.3\\] vs threshold 2\n" in summary
    assert "  - seed 1: **fails** - ratio to random = 1.5 \\[1.3, 1.7\\] vs threshold 2 - ratio 1.5 below 2 at seed 1" in summary

    page = render_html(results)
    assert "<span class='seeds differ'>seed-dependent: holds at 0; fails at 1</span>" in page
    assert page.count("<span class='seeds'>same at seeds 0-1</span>") == 2
    table = page.split("seed-dependent: holds at 0; fails at 1 (the message")[1].split("</table>")[0]
    cells = re.findall(r"<td>(.*?)</td>", table)
    assert cells[:2] == ["0", "holds"] and cells[4:6] == ["1", "fails"]
    assert "ratio to random: 1.5 [1.3, 1.7] (threshold 2)" in cells[6] and cells[7] == "ratio 1.5 below 2 at seed 1"
