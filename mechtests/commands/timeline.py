"""`mechtests timeline --mdm-checkpoints DIR`: every hypothesis judged at every checkpoint of a post-training run.

    mechtests posttrain ARM --out run --minutes 5 --save-every 40       # MDM folders in run/checkpoints/
    mechtests timeline --mdm-checkpoints run/checkpoints --arm ARM -- -n auto

The suites run once per checkpoint (pytest with `--mech-mdm` set to it and its own report folder,
`-n auto` spreading each run over xdist workers), against the same ARM, whose measurements the
cache keeps after the first run. The runs' results.json become one timeline (mechtests.reports.
timeline): timeline.json, report.html and summary.md in `--report`. A checkpoint's step is the
one its card records (posttrain's snapshots), else the number its folder name ends with.
A run that cannot judge (pytest exits other than 0 or 1: a usage error, an internal error) stops
the timeline with the steps judged so far written.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from mechtests.errors import MechtestsError
from mechtests.reports.render_html import CSS
from mechtests.reports.schema import atomic_write, load_results
from mechtests.reports.timeline import render_timeline_html, render_timeline_markdown, timeline_data

JUDGED = (0, 1)  # pytest's exit codes of a run that judged every selected hypothesis (1: some not as expected)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mdm-checkpoints", required=True, metavar="DIR",
                        help="a folder of MDM checkpoint folders, e.g. posttrain's OUT/checkpoints (--save-every)")
    parser.add_argument("--arm", metavar="PATH", help="the ARM they were post-trained from (default: the pair's arm)")
    parser.add_argument("--pair", metavar="NAME", help="the pair whose ARM, budget and settings the runs use")
    parser.add_argument("--suites", default="suites/", metavar="PATH", help="the hypotheses to judge (default: suites/)")
    parser.add_argument("--report", default="reports/timeline", metavar="DIR",
                        help="where each step's report and the timeline go (default: reports/timeline)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST_ARGS",
                        help="passed to every pytest run, e.g. -- -n auto -k induction")


def checkpoint_steps(folder: Path) -> list[tuple[int, Path]]:
    """(step, checkpoint folder) of every folder in `folder` that holds a config.json, by step."""
    if not folder.is_dir():
        raise MechtestsError(f"--mdm-checkpoints {folder} is not a folder",
                             "pass the checkpoints folder that `mechtests posttrain --save-every N` writes (OUT/checkpoints)")
    found = []
    for path in sorted(p for p in folder.iterdir() if (p / "config.json").is_file()):
        found.append((_step_of(path), path))
    if len(found) < 2:
        raise MechtestsError(f"{folder} holds {len(found)} checkpoint folder(s) with a config.json; a timeline needs at least 2",
                             "post-train with --save-every N so that several checkpoints are saved")
    steps = [step for step, _ in found]
    if len(set(steps)) != len(steps):
        raise MechtestsError(f"two checkpoints in {folder} have the same step", "name each folder step-N, N its training step")
    return sorted(found)


def _step_of(path: Path) -> int:
    card = path / "card.json"
    if card.is_file():
        snapshot = json.loads(card.read_text(encoding="utf-8")).get("snapshot") or {}
        if isinstance(snapshot.get("step"), int):
            return snapshot["step"]
    digits = re.search(r"(\d+)$", path.name)
    if digits is None:
        raise MechtestsError(f"cannot tell the training step of {path}", "name the folder step-N, N its training step")
    return int(digits[1])


def run(args: argparse.Namespace) -> int:
    checkpoints = checkpoint_steps(Path(args.mdm_checkpoints))
    report = Path(args.report)
    extra = [a for a in args.pytest_args if a != "--"]
    models = [*(["--mech-pair", args.pair] if args.pair else []), *(["--mech-arm", args.arm] if args.arm else [])]
    runs = []
    try:
        for step, path in checkpoints:
            out = report / f"step-{step:06d}"
            print(f"mechtests timeline: step {step} ({path})", flush=True)
            command = [sys.executable, "-m", "pytest", args.suites, *models, f"--mech-mdm={path}", f"--mech-report={out}",
                       "-p", "no:cacheprovider", *extra]
            code = subprocess.call(command)
            if code not in JUDGED:
                raise MechtestsError(f"the run at step {step} ended with pytest exit code {code} (its output is above); "
                                     f"the timeline keeps the {len(runs)} step(s) before it",
                                     "fix what that run reports, then run the timeline again (the cache keeps what was measured)")
            runs.append((step, load_results(out / "results.json")))
    finally:
        if runs:
            _write(report, runs)
    return 0


def _write(report: Path, runs: list) -> None:
    data = timeline_data(runs)
    report.mkdir(parents=True, exist_ok=True)
    atomic_write(report / "timeline.json", json.dumps(data, indent=1) + "\n")
    atomic_write(report / "report.html", render_timeline_html(data, CSS))
    atomic_write(report / "summary.md", render_timeline_markdown(data))
    print(f"mechtests timeline: {len(runs)} steps -> {report / 'report.html'}")
