"""summary.md: what changed against the baseline, the matrix and what needs attention, for CI job
summaries ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import re
from typing import Any

from mechtests.claims.evidence import describe
from mechtests.reports.baseline_view import BaselineView, MetricRow, baseline_view, interval_text
from mechtests.reports.matrix import (ONE_MODEL, budget_text, cell_text, columns, expectations_text, headline, key_evidence,
                                      multi_seed, needs_attention, outcome_name, resolved_setting, seed_note, status)

ICONS = {"ok": "✅", "mismatch": "❌", "error": "💥", "warning": "⚠️", "not_applicable": "➖", "not_selected": "⏭️",
         "reported": "🔎", "none": ""}
# Markdown punctuation that can open a link or an image ([ ]), emphasis, code, raw HTML or an
# autolink (< >), an entity (&) or a table cell (|); CommonMark lets a backslash make any of
# them literal. With [ and ] escaped, "(url)" and "!" are plain text.
MARKUP = re.compile(r"([\\`*_\[\]<>|~&])")


def md(text: Any) -> str:
    """Text safe in Markdown, a table cell included: markup characters backslash-escaped (so a
    name cannot make a link, an image or HTML), newlines turned into spaces."""
    return MARKUP.sub(r"\\\1", str(text)).replace("\r", " ").replace("\n", " ")


def code(text: Any) -> str:
    """A Markdown code span showing `text` literally, whatever backticks it holds."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def render_markdown(results: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    """The summary; `old`: the baseline's results.json, when the caller has it."""
    run = results["run"]
    cols = columns(results)
    out = ["# mechtests", ""]
    view = baseline_view(results, old_results=old)
    if view is not None:
        out += _baseline(view)
    out += [f"**{md(headline(results))}**", ""]
    for role, model in run["models"].items():
        sha = (model.get("weights_sha256") or "unknown")[:12]
        out.append(f"- {role}: {code(model['path'])} (sha256 {md(sha)})" if model.get("path") else f"- {role}: {ONE_MODEL}")
    out.append(f"- budget {md(budget_text(run))}, device {md(resolved_setting(run, 'device'))}, "
               f"dtype {md(resolved_setting(run, 'dtype'))}")
    out.append(f"- expectations: {md(expectations_text(run))}")
    git = run.get("git") or {}
    if git.get("commit"):
        out.append(f"- commit {md(git['commit'][:12])}{' (dirty)' if git.get('dirty') else ''}")
    out += ["", "| hypothesis | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for hyp in results["hypotheses"]:
        cells = [hyp["results"].get(c) for c in cols]
        out.append(f"| {md(hyp['key'])} | " + " | ".join(_cell(r, multi_seed(results)) for r in cells) + " |")
    attention = [(h, m, r) for h in results["hypotheses"] for m, r in h["results"].items() if needs_attention(r)]
    if attention:
        out += ["", "## Needs attention", ""]
        for hyp, model, res in attention:
            out.append(f"- **{md(hyp['key'])}** \\[{md(model)}\\]: {md(cell_text(res))}"
                       + (f" - {md(res['message'].splitlines()[0])}" if res.get("message") else ""))
            for ev in res["evidence"]:
                out.append(f"  - {md(describe(ev))}")
            out += _per_seed(res)
            out.append(f"  - rerun: {code(res['rerun'])}")
    return "\n".join(out) + "\n"


def _cell(res: dict[str, Any] | None, multi: bool) -> str:
    """A matrix cell: icon and verdict, and in a multi-seed run what each seed gave (on a second line)."""
    note = seed_note(res, multi)
    return f"{ICONS[status(res)]} {md(cell_text(res))}".strip() + (f"<br>{md(note)}" if note else "")


def _per_seed(res: dict[str, Any]) -> list[str]:
    """One line per evaluation seed of a multi-seed result: its verdict, key evidence and message."""
    out = []
    for s in res.get("seeds") or []:
        evidence = "; ".join(describe(ev) for ev in key_evidence(s.get("evidence") or []))
        message = (s.get("message") or "").splitlines()[:1]
        out.append(f"  - seed {md(s['seed'])}: **{md(outcome_name(s['outcome']))}**" + (f" - {md(evidence)}" if evidence else "")
                   + (f" - {md(message[0])}" if message else ""))
    return out


def _baseline(view: BaselineView) -> list[str]:
    """Changed verdicts first, then drifted metrics, each with old and new values and intervals."""
    out = [f"## Against the baseline {code(view.file)}", ""]
    if view.error:
        return out + [f"💥 the gate could not compare: {md(view.error)}", ""]
    if view.changed:
        out += [f"**{len(view.changed)} verdict(s) changed**", "", "| hypothesis [model] | baseline | this run | key evidence: baseline → this run |",
                "|---|---|---|---|"]
        out += [f"| ❌ {md(r.case)} | {md(r.old)} | **{md(r.new)}** | " + "<br>".join(_metric(m) for m in r.metrics) + " |"
                for r in view.changed]
    else:
        out.append("✅ no verdict changed")
    if view.unsettled:
        out += ["", f"⚠️ {len(view.unsettled)} verdict(s) moved into or out of inconclusive:", ""]
        out += [f"- {md(r.case)}: {md(r.old)} → **{md(r.new)}**" + "".join(f"; {_metric(m)}" for m in r.metrics) for r in view.unsettled]
    if view.drift:
        out += ["", f"{len(view.drift)} metric(s) moved beyond {md(view.tolerance)} (warning):", ""]
        out += [f"- {md(d.case)}: {_metric(d.metric)}" for d in view.drift]
    for label, cases in (("in the baseline, not run", view.missing), ("not in the baseline", view.new)):
        if cases:
            out += ["", f"{len(cases)} {label}: " + ", ".join(md(c) for c in cases)]
    out += [f"- note: {md(n)}" for n in view.notes]
    return out + [""]


def _metric(m: MetricRow) -> str:
    threshold = f" (threshold {m.threshold:.4g})" if m.threshold is not None else ""
    return f"{md(m.name)}: {md(interval_text(m.old))} → **{md(interval_text(m.new))}**{threshold}"
