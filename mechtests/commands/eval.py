"""`mechtests eval`: how well each model of a pair does each task, and how many examples both get right.

    mechtests eval                          # the default pair from pyproject.toml (the bundled one)
    mechtests eval --pair tiny --json
    mechtests eval --arm PATH --mdm PATH --n 1000 --seed 0
    mechtests eval --pair smollm2 --json    # the pair's budget (quick): 200 candidates per task
    mechtests eval --task ioi --task greater_than

Per task and per model: accuracy and mean logit difference (correct minus wrong), read through
the query layer, the model's own pool (examples it answers correctly: per-model hypotheses
draw from it) and the common-correct pool (examples both models answer correctly), which is
the pool every circuit comparison draws from. On a terminal, a line on stderr shows which task
and model are being scored and how many answers are done (commands/status_line.py).

The candidates are the run budget's (`--mech-budget`, the pair table's `budget`, [tool.mechtests]
budget: mechtests.run.settings), drawn as the suites draw them, and each model's answers are
scored through mechtests.study.scores: a later `pytest suites/` on the same pair, seed and budget
reads its pools from the cache that eval filled instead of scoring them again.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mechtests import study
from mechtests.commands.project import add_draw_arguments, add_pair_arguments, candidates, options_given, settings_for
from mechtests.commands.status_line import status_line
from mechtests.errors import MechtestsError
from mechtests.models import load_subject
from mechtests.reports.schema import json_safe
from mechtests.run import progress
from mechtests.run.budget import Budget
from mechtests.run.pairs import check_role
from mechtests.run.settings import RunSettings
from mechtests.stats import bootstrap
from mechtests.tasks import TaskSet
from mechtests.tasks.consistency import check_pair


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    add_draw_arguments(parser)
    parser.add_argument("--task", metavar="NAME", action="append", dest="tasks",
                        help="evaluate this task only; repeat for several (default: every task)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def load(settings: RunSettings) -> dict[str, Any]:
    """role -> Subject, each loaded with the run's options for it (its pair table's, with device and
    dtype by the one precedence, unset meaning auto), as the suites load it: the same model
    identity, so the same cache keys."""
    subjects = {}
    for role in settings.pair.roles:
        options = settings.load_options(role)
        options.update({key: options[key] or "auto" for key in ("device", "dtype")})
        subjects[role] = check_role(role, load_subject(settings.pair.path(role), **options))
    return subjects


# ---------------------------------------------------------------------------------------------
# scoring


def score(subject: Any, task: str, examples: list) -> tuple[list[bool], list[float]]:
    """Per example: answered correctly, and the task metric (logit difference correct minus wrong,
    or for greater-than the probability mass above the threshold minus at/below it); cached, in
    the entry the suites' pools read (mechtests.study.scores)."""
    metric, correct = study.scores(subject, task, examples)
    return [bool(c) for c in correct.tolist()], [float(m) for m in metric.tolist()]


def evaluate(subjects: dict[str, Any], n: int, seed: int, only: list[str] | None = None, budget: Budget | None = None) -> dict[str, Any]:
    """The eval report as plain builtins (the --json output). Tasks are posed in the ARM's
    tokenizer (the MDM's in an MDM-only run): per task the candidates drawn, how many were kept
    and why the rest were dropped; accuracy is over the kept ones. A task the tokenizer cannot
    pose is reported with the reason instead of numbers. `budget` sets the tasks' difficulty
    (default: the active run budget's)."""
    first = subjects.get("arm") or subjects["mdm"]
    tasks = TaskSet(first.tokenizer, n=n, seed=seed, budget=budget)  # the task difficulty of the run budget, as the suites pose them
    report: dict[str, Any] = {
        "models": {r: {"path": str(s.path), "sha256": s.weights_sha256} for r, s in subjects.items()},
        "n": n, "seed": seed, "tasks": {},
    }
    for name in only or tasks:
        if name not in tasks.generators:
            raise MechtestsError(f"unknown task {name!r}", f"use one of {', '.join(tasks)}")
        row: dict[str, Any] = {"regime": tasks.generators[name].regime, "candidates": n}
        try:
            draw = tasks.draw(name)
        except MechtestsError as err:
            report["tasks"][name] = {**row, "error": str(err)}
            continue
        examples = draw.examples
        row.update(kept=len(examples), dropped=draw.dropped, dropped_because=dict(draw.reasons))
        row["metric"] = "probability mass above minus at/below" if examples[0].good is not None else "logit difference"
        verdicts = {}
        for role, s in subjects.items():
            progress.step(f"{name} ({role})")
            correct, diffs = score(s, name, examples)
            verdicts[role] = correct
            accuracy, metric = bootstrap([float(c) for c in correct], seed=seed), bootstrap(diffs, seed=seed)
            row[role] = {"accuracy": round(accuracy.value, 4), "accuracy_ci": [round(accuracy.lo, 4), round(accuracy.hi, 4)],
                         "logit_diff": round(metric.value, 4), "logit_diff_ci": [round(metric.lo, 4), round(metric.hi, 4)],
                         "correct": sum(correct)}
        row["common_correct"] = sum(all(v) for v in zip(*verdicts.values())) if len(verdicts) == 2 else None
        report["tasks"][name] = row
    return report


def render_table(report: dict[str, Any]) -> str:
    roles = [r for r in ("arm", "mdm") if r in report["models"]]
    head = ("task", "regime", "kept", *[f"{r.upper()} {c}" for r in roles for c in ("acc", "metric", "correct")], "common-correct")
    rows = [head]
    for name, r in report["tasks"].items():
        if "error" in r:
            rows.append((name, r["regime"], "-", *["-"] * (3 * len(roles)), "-"))
            continue
        cells = [c for role in roles for c in (_with_interval(r[role], "accuracy", 3), _with_interval(r[role], "logit_diff", 2),
                                              f"{r[role]['correct']}/{r['kept']}")]
        common = "-" if r["common_correct"] is None else f"{r['common_correct']}/{r['kept']}"
        rows.append((name, r["regime"], f"{r['kept']}/{r['candidates']}", *cells, common))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    models = ", ".join(f"{r.upper()} {report['models'][r]['path']}" for r in roles)
    lines = [f"pair {report['pair']}: {models} (n={report['n']}, seed={report['seed']}, budget {report['budget']})"]
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"{name}: not posed: {r['error']}" for name, r in report["tasks"].items() if "error" in r]
    lines.append("metric: mean logit difference, correct minus wrong (greater_than: probability mass above "
                 "the threshold minus at or below it); kept: candidates the tokenizer could pose; correct: the model's own pool, "
                 "common-correct: both models'; [95% bootstrap interval over the kept examples, seeded by --seed]")
    return "\n".join(lines)


def _with_interval(cell: dict[str, Any], key: str, digits: int) -> str:
    lo, hi = cell[f"{key}_ci"]
    return f"{cell[key]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def to_json(report: dict[str, Any]) -> str:
    """Always valid JSON: a NaN or infinite number (a model that never answers) is written as null."""
    return json.dumps(json_safe(report, []), indent=2, allow_nan=False)


def run(args: argparse.Namespace) -> int:
    settings = settings_for(options_given(args))
    n = candidates(args, settings)
    if len(settings.pair.roles) == 2:  # the suites' pair check: tokenizers and shapes agree
        check_pair(settings.pair, {role: settings.load_options(role) for role in settings.pair.roles}, n=n, seed=settings["seed"])
    subjects = load(settings)
    with status_line():
        report = {"pair": settings.pair.label, "budget": settings.budget.name, **evaluate(subjects, n, settings["seed"], args.tasks, settings.budget)}
    print(to_json(report) if args.json else render_table(report), file=sys.stdout)
    return 0
