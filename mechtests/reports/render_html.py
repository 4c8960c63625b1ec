"""report.html: one self-contained page (no scripts, no external files) rendered from results.json.

Top: with a baseline, what changed against it (verdicts first, then drifted metrics, each with
old and new values and intervals). Then the hypothesis x model matrix, each cell a link to its
evidence (in a multi-seed run, with what each seed gave under the replicated verdict). Below:
one section per hypothesis with its claim and source, its charts (the models on shared axes,
reports/charts.py), then per model the outcome, message, the verdict and key evidence at each
seed of a multi-seed run, the evidence table and rerun command. Every string from the run goes through `e()` (html.escape).
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

from mechtests.claims.evidence import fmt
from mechtests.claims.figures import chart_of, is_chart_key
from mechtests.reports import svg
from mechtests.reports.baseline_view import BaselineView, MetricRow, baseline_view, interval_text
from mechtests.reports.charts import hypothesis_charts
from mechtests.reports.curves import curve_charts
from mechtests.reports.matrix import (ONE_MODEL, budget_text, cell_text, columns, expectations_text, headline, key_evidence,
                                      multi_seed, outcome_name, resolved_setting, seed_dependent, seed_note, seed_span, status)
from mechtests.reports.profiles import profile_charts

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1180px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
table.matrix{width:100%}table.matrix td{overflow-wrap:anywhere}
td.ok{background:#e3f6e3}td.mismatch{background:#f9d6d5;font-weight:bold}td.error{background:#fbe8c8}
td.warning{background:#fff3b0}td.not_applicable,td.not_selected{background:#eee;color:#555}td a{color:inherit;text-decoration:none;display:block}
code,pre{font:12px ui-monospace,monospace;background:#f6f6f6;overflow-wrap:anywhere}pre{padding:6px;white-space:pre-wrap}
section.h{border-top:2px solid #ddd;margin-top:1.5em}.meta{color:#555}.plots{display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start}
section.baseline{border:2px solid #b00;padding:0 1em .5em;margin-bottom:1em}section.baseline.same{border-color:#4a4}
svg .t{font:bold 13px sans-serif}svg .l{font:12px sans-serif;fill:#444}svg .bar{fill:#3b6fb6}
svg .axis{stroke:#888;stroke-width:1}svg .grid{stroke:#eee;stroke-width:1}svg .band{fill:#999;opacity:.35}
svg .thr{stroke:#b00;stroke-width:1.5;stroke-dasharray:6 3}svg .node{fill:#fff;stroke:#333;stroke-width:1.5}
svg .node.idle{stroke:#bbb}.warn{color:#a60}.bad{color:#b00;font-weight:bold}
.seeds{display:block;font-size:12px;font-weight:normal;color:#555}.seeds.differ{color:#8a4b00;font-weight:bold}
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


def render_html(results: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    """The page; `old`: the baseline's results.json, when the caller has it (else read from results["baseline"]["file"])."""
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             "<title>mechtests report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>mechtests report</h1>"]
    view = baseline_view(results, old_results=old)
    if view is not None:
        parts.append(_baseline(view))
    parts.append(f"<p><b>{e(headline(results))}</b></p>")
    parts.append(_matrix(results))
    parts.append(_run_info(results["run"]))
    for hyp in results["hypotheses"]:
        parts.append(_hypothesis(hyp))
    parts.append("</body></html>\n")
    return "".join(parts)


def _matrix(results: dict[str, Any]) -> str:
    cols, multi = columns(results), multi_seed(results)
    rows = ["<table class='matrix'><tr><th>hypothesis</th>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "<th>claim</th></tr>"]
    for hyp in results["hypotheses"]:
        cells = []
        for c in cols:
            res = hyp["results"].get(c)
            if res is None:
                cells.append("<td>-</td>")
            else:
                cells.append(f"<td class='{status(res)}'><a href='#{anchor(hyp['key'], c)}'>{e(cell_text(res))}{_seed_note(res, multi)}</a></td>")
        rows.append(f"<tr><td><a href='#{anchor(hyp['key'])}'>{_breakable(hyp['key'])}</a></td>{''.join(cells)}"
                    f"<td>{e(hyp['claim'])}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _seed_note(res: dict[str, Any], multi: bool) -> str:
    """What each seed gave, under a multi-seed cell's verdict; '' in a single-seed run."""
    note = seed_note(res, multi)
    return f"<span class='seeds{' differ' if seed_dependent(res) else ''}'>{e(note)}</span>" if note else ""


def _per_seed(res: dict[str, Any]) -> str:
    """A multi-seed result's table: per evaluation seed, its verdict, key evidence and message."""
    if not res.get("seeds"):
        return ""
    first = res["seeds"][0]["seed"]
    rows = [f"<p class='{'warn' if seed_dependent(res) else 'meta'}'>{e(seed_note(res))} "
            f"(the message, evidence and charts below are seed {e(first)}'s)</p>",
            "<table><tr><th>seed</th><th>verdict</th><th>key evidence</th><th>message</th></tr>"]
    for s in res["seeds"]:
        evidence = "<br>".join(e(_value(ev)) for ev in key_evidence(s.get("evidence") or []))
        message = (s.get("message") or "").splitlines()[:1]
        rows.append(f"<tr><td>{e(s['seed'])}</td><td>{e(outcome_name(s['outcome']))}</td><td>{evidence}</td>"
                    f"<td>{e(message[0]) if message else ''}</td></tr>")
    return "".join(rows) + "</table>"


def _value(ev: dict[str, Any]) -> str:
    """`name: value [lo, hi] (threshold t)`."""
    ci = f" [{fmt(ev['ci'][0])}, {fmt(ev['ci'][1])}]" if ev.get("ci") else ""
    thr = f" (threshold {fmt(ev['threshold'])})" if ev.get("threshold") is not None else ""
    return f"{ev['name']}: {fmt(ev['value'])}{ci}{thr}"


def _breakable(key: str) -> str:
    """An escaped hypothesis key that may wrap after its dots and underscores, not mid-word."""
    return re.sub(r"([._])", r"\1<wbr>", e(key))


def _run_info(run: dict[str, Any]) -> str:
    seeds = f"seeds {e(seed_span(run['seeds']))}" if run.get("seeds") else f"seed {e(run['seed'])}"
    items = [seeds, f"pair {e(run.get('pair'))}", f"budget {e(budget_text(run))}", f"device {e(resolved_setting(run, 'device'))}",
             f"dtype {e(resolved_setting(run, 'dtype'))}", f"expectations {e(expectations_text(run))}",
             f"finished {e(run.get('finished'))}"]
    git = run.get("git") or {}
    if git.get("commit"):
        items.append(f"commit {e(git['commit'][:12])}{' (dirty)' if git.get('dirty') else ''}")
    models = "".join(
        f"<tr><td>{e(role)}</td><td>{_model_path(m)}</td><td><code>{e(m.get('weights_sha256') or 'not loaded')}</code></td>"
        f"<td>{e(m.get('device') or '-')}</td><td>{e(m.get('dtype') or '-')}</td></tr>"
        for role, m in run["models"].items()
    )
    versions = ", ".join(f"{e(k)} {e(v)}" for k, v in run.get("versions", {}).items() if v)
    incomplete = "<p class='bad'>This run is incomplete: it stopped before every test ran.</p>" if run.get("incomplete") else ""
    return (f"{incomplete}<details><summary class='meta'>{' · '.join(items)}</summary>"
            f"<table><tr><th>model</th><th>path</th><th>weights sha256</th><th>device</th><th>dtype</th></tr>{models}</table>"
            f"<p class='meta'>{versions}</p></details>")


def _model_path(model: dict[str, Any]) -> str:
    return f"<code>{e(model['path'])}</code>" if model.get("path") else ONE_MODEL


def _baseline(view: BaselineView) -> str:
    """Changed verdicts first, then drifted metrics, each with old and new values and intervals."""
    out = [f"<section class='baseline{'' if view.changed else ' same'}' id='baseline'>"
           f"<h2>Against the baseline <code>{e(view.file)}</code></h2>"]
    if view.error:
        return "".join(out) + f"<p class='bad'>The gate could not compare: {e(view.error)}</p></section>"
    if view.changed:
        out.append(f"<p class='bad'>{len(view.changed)} verdict(s) changed</p><table><tr><th>hypothesis [model]</th>"
                   "<th>baseline</th><th>this run</th><th>key evidence: baseline → this run</th></tr>")
        for row in view.changed:
            out.append(f"<tr><td><a href='#{anchor(*row.anchor)}'>{e(row.case)}</a></td><td>{e(row.old)}</td>"
                       f"<td class='bad'>{e(row.new)}</td><td>{'<br>'.join(_metric(m) for m in row.metrics)}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>No verdict changed.</p>")
    if view.unsettled:
        out.append(f"<p class='warn'>{len(view.unsettled)} verdict(s) moved into or out of inconclusive:</p><table><tr>"
                   "<th>hypothesis [model]</th><th>baseline</th><th>this run</th><th>key evidence: baseline → this run</th></tr>")
        out += [f"<tr><td><a href='#{anchor(*row.anchor)}'>{e(row.case)}</a></td><td>{e(row.old)}</td><td class='warn'>{e(row.new)}</td>"
                f"<td>{'<br>'.join(_metric(m) for m in row.metrics)}</td></tr>" for row in view.unsettled]
        out.append("</table>")
    if view.drift:
        out.append(f"<p class='warn'>{len(view.drift)} metric(s) moved beyond {e(view.tolerance)}:</p><table><tr>"
                   "<th>hypothesis [model]</th><th>metric: baseline → this run</th></tr>")
        out += [f"<tr><td><a href='#{anchor(*d.anchor)}'>{e(d.case)}</a></td><td>{_metric(d.metric)}</td></tr>" for d in view.drift]
        out.append("</table>")
    for label, cases in (("in the baseline, not run", view.missing), ("not in the baseline", view.new)):
        if cases:
            out.append(f"<p class='meta'>{len(cases)} {e(label)}: {e(', '.join(cases))}</p>")
    out += [f"<p class='meta'>note: {e(n)}</p>" for n in view.notes]
    out.append("</section>")
    return "".join(out)


def _metric(m: MetricRow) -> str:
    threshold = f" (threshold {e(fmt(m.threshold))})" if m.threshold is not None else ""
    return f"{e(m.name)}: {e(interval_text(m.old))} → <b>{e(interval_text(m.new))}</b>{threshold}"


def _hypothesis(hyp: dict[str, Any]) -> str:
    out = [f"<section class='h' id='{anchor(hyp['key'])}'><h2>{e(hyp['key'])}</h2>"]
    if hyp["claim"]:
        out.append(f"<p>{e(hyp['claim'])}</p>")
    meta = [f"source: {e(hyp['source'])}" if hyp.get("source") else "", f"file: <code>{e(hyp['file'])}</code>",
            f"why expected: {e(hyp['reason'])}" if hyp.get("reason") else ""]
    out.append("<p class='meta'>" + " · ".join(m for m in meta if m) + "</p>")
    charts = hypothesis_charts(hyp) + curve_charts(hyp) + profile_charts(hyp)
    if charts:
        out.append("<div class='plots'>" + "".join(charts) + "</div>")
    out.append(_plots(hyp))
    for model, res in hyp["results"].items():
        out.append(f"<h3 id='{anchor(hyp['key'], model)}'>{e(model)}: <span class='{status(res)}'>{e(cell_text(res))}</span></h3>")
        out.append(_per_seed(res))
        if res.get("message"):
            out.append(f"<pre>{e(res['message'])}</pre>")
        scalars = [ev for ev in res["evidence"] if not isinstance(ev["value"], list)]
        if scalars:
            out.append("<table><tr><th>evidence</th><th>value</th><th>interval</th><th>threshold</th><th>details</th></tr>")
            for ev in scalars:
                ci = f"[{fmt(ev['ci'][0])}, {fmt(ev['ci'][1])}]" if ev.get("ci") else ""
                thr = fmt(ev["threshold"]) if ev.get("threshold") is not None else ""
                extra = ", ".join([*(f"{k}={v}" for k, v in ev.get("extra", {}).items() if not is_chart_key(k)), *ev.get("flags", [])])
                out.append(f"<tr><td>{e(ev['name'])}</td><td>{e(fmt(ev['value']))}</td><td>{e(ci)}</td>"
                           f"<td>{e(thr)}</td><td>{e(extra)}</td></tr>")
            out.append("</table>")
        out.append(f"<p class='meta'>rerun: <code>{e(res['rerun'])}</code> · {e(res.get('duration_s'))} s</p>")
    out.append("</section>")
    return "".join(out)


def _plots(hyp: dict[str, Any]) -> str:
    """List-valued evidence that names no chart, one row per name, the models side by side on a shared scale."""
    by_name: dict[str, list[tuple[str, list[Any]]]] = {}
    for model, res in hyp["results"].items():
        for ev in res["evidence"]:
            if isinstance(ev["value"], list) and ev["value"] and chart_of(ev, model) is None:
                by_name.setdefault(ev["name"], []).append((model, ev["value"]))
    out = []
    for name, series in by_name.items():
        vrange = svg.value_range([v for _, v in series])
        out.append("<div class='plots'>" + "".join(svg.plot(v, f"{name} [{m}]", vrange) for m, v in series) + "</div>")
    return "".join(out)
