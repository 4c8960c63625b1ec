"""A timeline of verdicts over post-training: each hypothesis's key statistic against the step.

`mechtests timeline` runs the suites once per MDM checkpoint against one ARM; each run leaves a
results.json. Here they become one view: per hypothesis and model column, the key statistic
(the first evidence that carries a threshold, as the matrix shows it) with its interval and the
verdict at every step. For a hypothesis that runs on each model, the ARM's result is step 0:
post-training starts from the ARM, so where the MDM's verdict first differs from the ARM's is
where the mechanism appeared or disappeared. A pair-level hypothesis has no ARM point; its first
change is against the first checkpoint. The chart marks that step.
"""

from __future__ import annotations

from typing import Any, Sequence

from mechtests.claims.outcomes import NOT_SELECTED
from mechtests.reports.charts import PAD_B, PAD_L, PAD_R, PAD_T, PALETTE, PLOT_H, _frame, _legend, _scale, _whisker, _y_axis
from mechtests.reports.matrix import key_evidence, outcome_name
from mechtests.reports.svg import esc, num

ARM_STEP = 0
STEP_W = 56  # horizontal room per step; the axis is linear in the step


def _point(step: int, res: dict[str, Any]) -> dict[str, Any]:
    """One step of one result: its verdict and key statistic (None when the result has none): the
    first estimate compared with a bar (a threshold and an interval), else the matrix's key evidence
    (a count with a threshold, such as a task left out for its pool, is no statistic to follow)."""
    key = key_evidence(res.get("evidence") or [])
    ev = next((e for e in key if e.get("ci")), key[0] if key else None)
    return {"step": step, "outcome": res["outcome"], "name": ev and ev["name"], "value": ev and ev["value"],
            "ci": ev and ev.get("ci"), "threshold": ev and ev.get("threshold")}


def timeline_data(runs: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The timeline of `runs` ((step, results.json), any order): per hypothesis and column (mdm or
    pair) the points by step, the ARM's point at step 0 where there is one, and the first step
    whose verdict differs from the starting one (None: the verdict never changed)."""
    runs = sorted(runs, key=lambda run: run[0])
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for step, results in runs:
        for hyp in results["hypotheses"]:
            for model, res in hyp["results"].items():
                if model == "arm" or res["outcome"] == NOT_SELECTED:  # -k left it out: nothing to follow
                    continue
                row = rows.setdefault((hyp["key"], model), {"key": hyp["key"], "claim": hyp.get("claim", ""),
                                                             "model": model, "arm": None, "points": []})
                row["points"].append(_point(step, res))
                arm = hyp["results"].get("arm")
                if row["arm"] is None and arm is not None and arm["outcome"] != NOT_SELECTED:
                    row["arm"] = _point(ARM_STEP, arm)
    for row in rows.values():
        start = row["arm"] or row["points"][0]
        row["first_change"] = next((p["step"] for p in row["points"] if p["outcome"] != start["outcome"]), None)
    return {"steps": [step for step, _ in runs], "hypotheses": list(rows.values())}


def timeline_chart(row: dict[str, Any]) -> str:
    """The key statistic against the step: the MDM (or pair) as a line with intervals, the ARM as
    a point at step 0, the threshold dashed, the step of the first verdict change marked."""
    points = [p for p in ([row["arm"]] if row["arm"] else []) + row["points"] if p["value"] is not None]
    title = f"{row['key']} [{row['model']}]"
    if not points:
        return ""
    steps = [p["step"] for p in points]
    first, last = min(steps), max(steps)
    width = max(PAD_L + PAD_R + STEP_W * (len(points) + 1), PAD_L + 8 * len(title))
    height = PAD_T + PLOT_H + PAD_B
    values = [v for p in points for v in (p["value"], *(p["ci"] or []), p["threshold"]) if isinstance(v, (int, float))]
    lo, hi, tick = _scale(values)
    y = lambda v: PAD_T + PLOT_H * (hi - v) / (hi - lo)  # noqa: E731
    x = lambda s: PAD_L + 12 + (width - PAD_L - PAD_R - 24) * (s - first) / max(last - first, 1)  # noqa: E731
    parts = [_frame(title, width, height, "timeline"), _y_axis(lo, hi, tick, width, y)]
    threshold = next((p["threshold"] for p in points if p["threshold"] is not None), None)
    if threshold is not None:
        parts.append(f'<line x1="{PAD_L}" x2="{width - PAD_R}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" class="thr">'
                     f'<title>threshold {num(threshold)}</title></line>')
    if row["first_change"] is not None:
        cx = x(row["first_change"])
        parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{PAD_T}" y2="{PAD_T + PLOT_H}" stroke="#b00" stroke-width="1" '
                     f'class="change"><title>verdict first changed at step {row["first_change"]}</title></line>')
    line = [p for p in points if p is not row["arm"]]
    parts.append('<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>'.format(
        PALETTE[0], " ".join(f"{x(p['step']):.1f},{y(p['value']):.1f}" for p in line)))
    for p in points:
        colour = "#777" if p is row["arm"] else PALETTE[0]
        if p["ci"] and None not in p["ci"]:
            parts.append(_whisker(x(p["step"]), y(p["ci"][1]), y(p["ci"][0]), colour))
        interval = f" [{num(p['ci'][0])}, {num(p['ci'][1])}]" if p["ci"] else ""
        who = "ARM" if p is row["arm"] else f"step {p['step']}"
        parts.append(f'<circle cx="{x(p["step"]):.1f}" cy="{y(p["value"]):.1f}" r="4.5" fill="{colour}">'
                     f'<title>{esc(who)}: {esc(p["name"])} {num(p["value"])}{interval}, {esc(outcome_name(p["outcome"]))}</title></circle>')
    for s in sorted(set(steps)):
        parts.append(f'<text x="{x(s):.1f}" y="{height - PAD_B + 16}" class="l" text-anchor="middle">{s}</text>')
    parts.append(f'<text x="{(width + PAD_L) / 2:.1f}" y="{height - 6}" class="l" text-anchor="middle">training step</text>')
    legend = [("ARM (step 0)", "#777", "dot")] * (row["arm"] is not None) + [(row["model"].upper(), PALETTE[0], "dot")]
    legend += [("threshold", "#b00", "6 3")] * (threshold is not None)
    parts.append(_legend(legend, PAD_L, 33))
    parts.append("</svg>")
    return "".join(parts)


def verdict_cells(row: dict[str, Any], steps: Sequence[int]) -> list[str]:
    """The verdict at each step ('-' where the step has no result), the ARM's first where there is one."""
    by_step = {p["step"]: outcome_name(p["outcome"]) for p in row["points"]}
    return ([outcome_name(row["arm"]["outcome"]) if row["arm"] else "-"]
            + [by_step.get(step, "-") for step in steps])


def render_timeline_markdown(data: dict[str, Any]) -> str:
    """summary.md of a timeline: the verdict of every hypothesis at every step, and where it first changed."""
    steps = data["steps"]
    out = ["# mechtests timeline", "", f"{len(steps)} checkpoints: steps {', '.join(map(str, steps))}; "
           "ARM = step 0 (the model post-training starts from).", "",
           "| hypothesis | ARM | " + " | ".join(f"step {s}" for s in steps) + " | first change |",
           "|---|---|" + "---|" * len(steps) + "---|"]
    for row in data["hypotheses"]:
        change = "never" if row["first_change"] is None else f"step {row['first_change']}"
        out.append(f"| {row['key']} [{row['model']}] | " + " | ".join(verdict_cells(row, steps)) + f" | {change} |")
    return "\n".join(out) + "\n"


def render_timeline_html(data: dict[str, Any], css: str) -> str:
    """report.html of a timeline: the verdict table, then one chart per hypothesis and column."""
    steps = data["steps"]
    head = "".join(f"<th>step {s}</th>" for s in steps)
    rows = []
    for row in data["hypotheses"]:
        change = "never" if row["first_change"] is None else f"step {row['first_change']}"
        cells = "".join(f"<td>{esc(c)}</td>" for c in verdict_cells(row, steps))
        rows.append(f"<tr><td>{esc(row['key'])} [{esc(row['model'])}]</td>{cells}<td>{esc(change)}</td></tr>")
    charts = "".join(timeline_chart(row) for row in data["hypotheses"])
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>mechtests timeline</title>"
            f"<style>{css}</style></head><body><h1>mechtests timeline</h1>"
            f"<p>{len(steps)} checkpoints; the ARM is step 0, the model post-training starts from.</p>"
            f"<table class='matrix'><tr><th>hypothesis</th><th>ARM</th>{head}<th>first change</th></tr>{''.join(rows)}</table>"
            f"<div class='plots'>{charts}</div></body></html>\n")
