"""summary.md: the matrix and what needs attention, for CI job summaries ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import re
from typing import Any

from mechtests.evidence import describe
from mechtests.reports.matrix import cell_text, columns, headline, needs_attention, status

ICONS = {"ok": "✅", "mismatch": "❌", "error": "💥", "warning": "⚠️", "not_applicable": "➖", "not_selected": "⏭️",
         "none": ""}
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


def render_markdown(results: dict[str, Any]) -> str:
    run = results["run"]
    cols = columns(results)
    out = ["# mechtests", "", f"**{md(headline(results))}**", ""]
    for role, model in run["models"].items():
        sha = (model.get("weights_sha256") or "unknown")[:12]
        out.append(f"- {role}: {code(model.get('path'))} (sha256 {md(sha)})")
    git = run.get("git") or {}
    if git.get("commit"):
        out.append(f"- commit {md(git['commit'][:12])}{' (dirty)' if git.get('dirty') else ''}")
    out += ["", "| hypothesis | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for hyp in results["hypotheses"]:
        cells = [hyp["results"].get(c) for c in cols]
        out.append(f"| {md(hyp['key'])} | " + " | ".join(f"{ICONS[status(r)]} {md(cell_text(r))}".strip() for r in cells) + " |")
    attention = [(h, m, r) for h in results["hypotheses"] for m, r in h["results"].items() if needs_attention(r)]
    if attention:
        out += ["", "## Needs attention", ""]
        for hyp, model, res in attention:
            out.append(f"- **{md(hyp['key'])}** \\[{md(model)}\\]: {md(cell_text(res))}"
                       + (f" - {md(res['message'].splitlines()[0])}" if res.get("message") else ""))
            for ev in res["evidence"]:
                out.append(f"  - {md(describe(ev))}")
            out.append(f"  - rerun: {code(res['rerun'])}")
    baseline = results.get("baseline")
    if baseline:
        out += ["", "## Against the baseline", ""]
        if baseline.get("error"):
            out.append(f"- 💥 the gate could not compare: {md(baseline['error'])}")
        elif baseline["changed"]:
            out += [f"- ❌ **{md(c['case'])}**: {md(c['old'])} → {md(c['new'])}" for c in baseline["changed"]]
        else:
            out.append(f"- no verdict changed against {code(baseline['file'])}")
        out += [f"- ⚠️ unsettled: {md(c['case'])}: {md(c['old'])} → {md(c['new'])}" for c in baseline.get("unsettled", [])]
        out += [f"- drift: {md(d['case'])} {md(d['metric'])}: {d['old']:.4g} → {d['new']:.4g}" for d in baseline.get("drift", [])]
    return "\n".join(out) + "\n"
