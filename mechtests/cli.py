"""The `mechtests` console script: subcommands live in mechtests.commands, one module each."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mechtests.errors import MechtestsError

# name -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("mechtests.commands.eval", "accuracy, logit difference and common-correct pool per task and model"),
    "tasks": ("mechtests.commands.tasks", "the posed examples of every task: the exact tokens each model sees"),
    "compare": ("mechtests.commands.compare", "compare two results.json files and flag changed verdicts"),
    "report": ("mechtests.commands.report", "render report.html and summary.md again from a results.json"),
    "inspect": ("mechtests.commands.inspect", "what the tool detects and checks in a checkpoint (family, kind, mask, attention, map)"),
    "plan": ("mechtests.commands.plan", "estimate a run's passes, time and peak memory, and what is cached, before starting it"),
    "posttrain": ("mechtests.commands.posttrain", "adapt a Hugging Face ARM into a masked diffusion LM (MDM)"),
    "timeline": ("mechtests.commands.timeline", "judge every hypothesis at every checkpoint of a post-training run"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mechtests", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(sp)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except MechtestsError as err:
        print(f"mechtests {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `mechtests compare ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
