"""summary.md: the matrix and what needs attention, for CI job summaries ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import html
from typing import Any

from mechtests.evidence import describe
from mechtests.reports.matrix import cell_text, columns, headline, status

ICONS = {"ok": "✅", "mismatch": "❌", "error": "⚠️", "skipped": "⏭️", "none": ""}


def md(text: Any) -> str:
    """Text safe inside a Markdown table cell: HTML escaped, pipes and newlines neutralised."""
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ").replace("`", "\\`")


def render_markdown(results: dict[str, Any]) -> str:
    run = results["run"]
    cols = columns(results)
    out = ["# mechtests", "", f"**{md(headline(results))}**", ""]
    for role, model in run["models"].items():
        sha = (model.get("weights_sha256") or "unknown")[:12]
        out.append(f"- {role}: <code>{md(model.get('path'))}</code> (sha256 {md(sha)})")
    git = run.get("git") or {}
    if git.get("commit"):
        out.append(f"- commit {md(git['commit'][:12])}{' (dirty)' if git.get('dirty') else ''}")
    out += ["", "| hypothesis | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for hyp in results["hypotheses"]:
        cells = [hyp["results"].get(c) for c in cols]
        out.append(f"| {md(hyp['key'])} | " + " | ".join(f"{ICONS[status(r)]} {md(cell_text(r))}".strip() for r in cells) + " |")
    attention = [(h, m, r) for h in results["hypotheses"] for m, r in h["results"].items() if status(r) not in ("ok", "none")]
    if attention:
        out += ["", "## Needs attention", ""]
        for hyp, model, res in attention:
            out.append(f"- **{md(hyp['key'])}** [{md(model)}]: {md(cell_text(res))}"
                       + (f" - {md(res['message'].splitlines()[0])}" if res.get("message") else ""))
            for ev in res["evidence"]:
                out.append(f"  - {md(describe(ev))}")
            out.append(f"  - rerun: <code>{html.escape(res['rerun'])}</code>")
    baseline = results.get("baseline")
    if baseline:
        out += ["", "## Against the baseline", ""]
        if baseline["changed"]:
            out += [f"- ❌ **{md(c['case'])}**: {md(c['old'])} → {md(c['new'])}" for c in baseline["changed"]]
        else:
            out.append(f"- no verdict changed against <code>{md(baseline['file'])}</code>")
        out += [f"- drift: {md(d['case'])} {md(d['metric'])}: {d['old']:.4g} → {d['new']:.4g}" for d in baseline["drift"]]
    return "\n".join(out) + "\n"
