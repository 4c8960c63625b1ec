"""report.html: one self-contained page (no scripts, no external files) rendered from results.json.

Top: the hypothesis x model matrix, each cell a link to its evidence. Below: one section per
hypothesis with its claim and source, then per model the outcome, message, evidence table and
rerun command; list-valued evidence recorded under the same name on several models is drawn
side by side on a shared scale. Every string from the run goes through `e()` (html.escape).
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

from mechtests.evidence import fmt
from mechtests.reports import svg
from mechtests.reports.matrix import cell_text, columns, headline, status

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
td.ok{background:#e3f6e3}td.mismatch{background:#f9d6d5;font-weight:bold}td.error{background:#fbe8c8}
td.warning{background:#fff3b0}td.not_applicable,td.not_selected{background:#eee;color:#666}td a{color:inherit;text-decoration:none;display:block}
code,pre{font:12px ui-monospace,monospace;background:#f6f6f6}pre{padding:6px;white-space:pre-wrap}
section.h{border-top:2px solid #ddd;margin-top:1.5em}.meta{color:#555}.plots{display:flex;gap:1em;flex-wrap:wrap}
svg .t{font:11px sans-serif;font-weight:bold}svg .l{font:9px sans-serif;fill:#555}svg .bar{fill:#3b6fb6}
svg .axis{stroke:#888;stroke-width:1}.warn{color:#a60}.bad{color:#b00;font-weight:bold}
"""


def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def anchor(key: str, model: str | None = None) -> str:
    """An id made only of safe characters, unique per hypothesis (and model): a readable slug
    plus a hash of the whole key, so keys that share a long prefix still differ."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", key)[:40]
    suffix = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"h-{slug}-{suffix}" + (f"-{re.sub(r'[^a-z]', '', model)}" if model else "")


def render_html(results: dict[str, Any]) -> str:
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<title>mechtests report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>mechtests report</h1>", f"<p><b>{e(headline(results))}</b></p>"]
    parts.append(_matrix(results))
    parts.append(_run_info(results["run"]))
    if results.get("baseline"):
        parts.append(_baseline(results["baseline"]))
    for hyp in results["hypotheses"]:
        parts.append(_hypothesis(hyp))
    parts.append("</body></html>\n")
    return "".join(parts)


def _matrix(results: dict[str, Any]) -> str:
    cols = columns(results)
    rows = ["<table class='matrix'><tr><th>hypothesis</th>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "<th>claim</th></tr>"]
    for hyp in results["hypotheses"]:
        cells = []
        for c in cols:
            res = hyp["results"].get(c)
            if res is None:
                cells.append("<td>-</td>")
            else:
                cells.append(f"<td class='{status(res)}'><a href='#{anchor(hyp['key'], c)}'>{e(cell_text(res))}</a></td>")
        rows.append(f"<tr><td><a href='#{anchor(hyp['key'])}'>{e(hyp['key'])}</a></td>{''.join(cells)}"
                    f"<td>{e(hyp['claim'])}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _run_info(run: dict[str, Any]) -> str:
    items = [f"seed {e(run['seed'])}", f"pair {e(run.get('pair'))}", f"device {e(run.get('device'))}",
             f"dtype {e(run.get('dtype'))}", f"finished {e(run.get('finished'))}"]
    git = run.get("git") or {}
    if git.get("commit"):
        items.append(f"commit {e(git['commit'][:12])}{' (dirty)' if git.get('dirty') else ''}")
    models = "".join(
        f"<tr><td>{e(role)}</td><td><code>{e(m.get('path'))}</code></td><td><code>{e(m.get('weights_sha256') or 'not loaded')}</code></td></tr>"
        for role, m in run["models"].items()
    )
    versions = ", ".join(f"{e(k)} {e(v)}" for k, v in run.get("versions", {}).items() if v)
    incomplete = "<p class='bad'>This run is incomplete: it stopped before every test ran.</p>" if run.get("incomplete") else ""
    return (f"{incomplete}<details><summary class='meta'>{' · '.join(items)}</summary>"
            f"<table><tr><th>model</th><th>path</th><th>weights sha256</th></tr>{models}</table>"
            f"<p class='meta'>{versions}</p></details>")


def _baseline(b: dict[str, Any]) -> str:
    out = [f"<h2>Against the baseline <code>{e(b['file'])}</code></h2>"]
    if b.get("error"):
        return "".join(out) + f"<p class='bad'>The gate could not compare: {e(b['error'])}</p>"
    if b.get("unsettled"):
        out.append("<ul>" + "".join(f"<li class='warn'>{e(c['case'])}: {e(c['old'])} → {e(c['new'])} (unsettled)</li>"
                                    for c in b["unsettled"]) + "</ul>")
    if b["changed"]:
        out.append("<ul>" + "".join(f"<li class='bad'>{e(c['case'])}: {e(c['old'])} → {e(c['new'])}</li>" for c in b["changed"]) + "</ul>")
    else:
        out.append("<p>No verdict changed.</p>")
    if b["drift"]:
        out.append(f"<p class='warn'>Metrics that moved beyond {e(b['tolerance'])}:</p><ul>" + "".join(
            f"<li>{e(d['case'])} {e(d['metric'])}: {e(fmt(d['old']))} → {e(fmt(d['new']))}</li>" for d in b["drift"]) + "</ul>")
    for label in ("missing", "new"):
        if b.get(label):
            out.append(f"<p class='meta'>{e(label)}: {e(', '.join(b[label]))}</p>")
    return "".join(out)


def _hypothesis(hyp: dict[str, Any]) -> str:
    out = [f"<section class='h' id='{anchor(hyp['key'])}'><h2>{e(hyp['key'])}</h2>"]
    if hyp["claim"]:
        out.append(f"<p>{e(hyp['claim'])}</p>")
    meta = [f"source: {e(hyp['source'])}" if hyp.get("source") else "", f"file: <code>{e(hyp['file'])}</code>",
            f"why expected: {e(hyp['reason'])}" if hyp.get("reason") else ""]
    out.append("<p class='meta'>" + " · ".join(m for m in meta if m) + "</p>")
    out.append(_plots(hyp))
    for model, res in hyp["results"].items():
        out.append(f"<h3 id='{anchor(hyp['key'], model)}'>{e(model)}: <span class='{status(res)}'>{e(cell_text(res))}</span></h3>")
        if res.get("message"):
            out.append(f"<pre>{e(res['message'])}</pre>")
        scalars = [ev for ev in res["evidence"] if not isinstance(ev["value"], list)]
        if scalars:
            out.append("<table><tr><th>evidence</th><th>value</th><th>interval</th><th>threshold</th><th>details</th></tr>")
            for ev in scalars:
                ci = f"[{fmt(ev['ci'][0])}, {fmt(ev['ci'][1])}]" if ev.get("ci") else ""
                thr = fmt(ev["threshold"]) if ev.get("threshold") is not None else ""
                extra = ", ".join([*(f"{k}={v}" for k, v in ev.get("extra", {}).items()), *ev.get("flags", [])])
                out.append(f"<tr><td>{e(ev['name'])}</td><td>{e(fmt(ev['value']))}</td><td>{e(ci)}</td>"
                           f"<td>{e(thr)}</td><td>{e(extra)}</td></tr>")
            out.append("</table>")
        out.append(f"<p class='meta'>rerun: <code>{e(res['rerun'])}</code> · {e(res.get('duration_s'))} s</p>")
    out.append("</section>")
    return "".join(out)


def _plots(hyp: dict[str, Any]) -> str:
    """List-valued evidence, one row per name, the models side by side on a shared scale."""
    by_name: dict[str, list[tuple[str, list[Any]]]] = {}
    for model, res in hyp["results"].items():
        for ev in res["evidence"]:
            if isinstance(ev["value"], list) and ev["value"]:
                by_name.setdefault(ev["name"], []).append((model, ev["value"]))
    out = []
    for name, series in by_name.items():
        vrange = svg.value_range([v for _, v in series])
        out.append("<div class='plots'>" + "".join(svg.plot(v, f"{name} [{m}]", vrange) for m, v in series) + "</div>")
    return "".join(out)
