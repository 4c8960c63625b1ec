"""`mechtests eval`: how well each model of a pair does each task, and how many examples both get right.

    mechtests eval                          # the default pair from pyproject.toml (the bundled one)
    mechtests eval --pair tiny --json
    mechtests eval --arm PATH --mdm PATH --n 1000 --seed 0

Per task and per model: accuracy and mean logit difference (correct minus wrong), read through
the query layer, and the common-correct pool (examples both models answer correctly), which is
the pool every circuit comparison draws from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.pairs import PairPaths, read_settings, resolve_pair

DEFAULT_N = 1000
DEFAULT_SEED = 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pair", metavar="NAME", help="a pair declared under [tool.mechtests.pairs] in "
                        "pyproject.toml (default: [tool.mechtests] pair, the bundled tiny pair)")
    parser.add_argument("--arm", metavar="PATH", help="the ARM's Hugging Face folder (with --mdm, instead of --pair)")
    parser.add_argument("--mdm", metavar="PATH", help="the MDM's Hugging Face folder (with --arm, instead of --pair)")
    add_draw_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_draw_arguments(parser: argparse.ArgumentParser) -> None:
    """--n and --seed: how the task examples are drawn (shared with `mechtests tasks`)."""
    parser.add_argument("--n", type=_positive_int, default=DEFAULT_N, metavar="N",
                        help=f"candidate examples per task (default: {DEFAULT_N})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                        help=f"seed of the task generators (default: {DEFAULT_SEED})")


# ---------------------------------------------------------------------------------------------
# which pair


def find_project(start: Path | None = None) -> Path:
    """The folder of the pyproject.toml that declares [tool.mechtests]: the working directory or
    a parent of it, else the checkout this package lives in."""
    here = start or Path.cwd()
    for folder in [here, *here.parents, Path(__file__).resolve().parents[2]]:
        if read_settings(folder):
            return folder
    raise MechtestsError("no pyproject.toml with a [tool.mechtests] table here or above",
                         "run from the mechtests checkout, or pass --arm PATH --mdm PATH")


def resolve(pair: str | None, arm: str | None, mdm: str | None) -> tuple[str, Path, Path]:
    """(name, arm folder, mdm folder): a pair declared in pyproject.toml, with --arm/--mdm overriding
    either model (both given: no pyproject.toml needed)."""
    if arm and mdm and not pair:
        paths = PairPaths(name="custom", arm=str(Path(arm).resolve()), mdm=str(Path(mdm).resolve()))
    else:
        root = find_project()
        paths = resolve_pair(read_settings(root), root, name=pair, arm=arm, mdm=mdm)
    folders = (Path(paths.path("arm")), Path(paths.path("mdm")))
    for role, folder in zip(("arm", "mdm"), folders):
        if not (folder / "config.json").is_file():
            raise MechtestsError(f"the {role} folder {folder} has no config.json",
                                 "point it at a Hugging Face model folder (the bundled pair: python fixtures/build_pair.py)")
    return paths.name or "custom", folders[0], folders[1]


# ---------------------------------------------------------------------------------------------
# scoring


def score(subject, examples: list) -> tuple[list[bool], list[float]]:
    """Per example: answered correctly, and the task metric (logit difference correct minus wrong,
    or for greater-than the probability mass above the threshold minus at/below it)."""
    from mechtests import queries

    metric, correct = queries.evaluate(subject, examples)
    return [bool(c) for c in correct.tolist()], [float(m) for m in metric.tolist()]


def evaluate(arm_path: Path, mdm_path: Path, n: int, seed: int) -> dict[str, Any]:
    """The eval report as plain builtins (the --json output)."""
    import mechtests
    from mechtests.tasks import TASKS, TaskSet

    subjects = {"arm": mechtests.load_subject(str(arm_path)), "mdm": mechtests.load_subject(str(mdm_path))}
    for role, s in subjects.items():
        if s.kind != role:
            raise MechtestsError(f"the {role} folder {s.path} holds a model of kind {s.kind!r}",
                                 "swap --arm and --mdm, or fix the mechtests block of its config.json")
    tasks = TaskSet(subjects["arm"].tokenizer, n=n, seed=seed)
    report: dict[str, Any] = {
        "models": {r: {"path": str(s.path), "sha256": s.weights_sha256} for r, s in subjects.items()},
        "n": n, "seed": seed, "tasks": {},
    }
    for name in tasks:
        examples = tasks[name]
        kind = "probability mass above minus at/below" if examples[0].good is not None else "logit difference"
        row: dict[str, Any] = {"regime": TASKS[name].regime, "metric": kind, "candidates": n}
        verdicts = {}
        for role, s in subjects.items():
            correct, diffs = score(s, examples)
            verdicts[role] = correct
            row[role] = {"accuracy": round(sum(correct) / len(examples), 4), "logit_diff": round(sum(diffs) / len(examples), 4)}
        row["common_correct"] = sum(a and m for a, m in zip(verdicts["arm"], verdicts["mdm"]))
        report["tasks"][name] = row
    return report


def render_table(report: dict[str, Any]) -> str:
    head = ("task", "regime", "ARM acc", "ARM metric", "MDM acc", "MDM metric", "common-correct")
    rows = [head] + [
        (name, r["regime"], f"{r['arm']['accuracy']:.3f}", f"{r['arm']['logit_diff']:.2f}",
         f"{r['mdm']['accuracy']:.3f}", f"{r['mdm']['logit_diff']:.2f}", f"{r['common_correct']}/{r['candidates']}")
        for name, r in report["tasks"].items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [f"pair {report['pair']}: ARM {report['models']['arm']['path']}, MDM {report['models']['mdm']['path']} "
             f"(n={report['n']}, seed={report['seed']})"]
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("metric: mean logit difference, correct minus wrong (greater_than: probability mass above "
                 "the threshold minus at or below it)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    name, arm_path, mdm_path = resolve(args.pair, args.arm, args.mdm)
    report = {"pair": name, **evaluate(arm_path, mdm_path, args.n, args.seed)}
    print(json.dumps(report, indent=2) if args.json else render_table(report), file=sys.stdout)
    return 0
