"""`mechtests tasks`: the examples each model is posed, as the exact tokens it sees.

    mechtests tasks --show 5                     # the default pair from pyproject.toml
    mechtests tasks --pair tiny --task ioi --show 2
    mechtests tasks --arm PATH                   # one model (a folder or a .gguf file)

The candidates per task are the run budget's (the pair table's `budget`, as `mechtests eval` and
the suites draw them), or `--n`.

Per model and task: how many of the candidates were kept (and why the rest were dropped), then
for the first examples the clean and corrupted input exactly as the query layer builds it for
that model (tokens between `|`, the MDM's mask token included, padding left out) and where the
answer logits are read. Prompts are plain text; no chat template is ever applied.
"""

from __future__ import annotations

import argparse
from typing import Any

from mechtests.commands.eval import load
from mechtests.commands.project import add_draw_arguments, add_pair_arguments, candidates, options_given, positive_int, settings_for
from mechtests.queries import pose
from mechtests.run.pairs import NONE, ROLES
from mechtests.tasks import TaskSet

DEFAULT_SHOW = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    parser.add_argument("--task", metavar="NAME", help="show one task only (default: every task)")
    parser.add_argument("--show", type=positive_int, default=DEFAULT_SHOW, metavar="K",
                        help=f"examples shown per task and model (default: {DEFAULT_SHOW})")
    add_draw_arguments(parser)


def alone(options: dict[str, tuple[Any, str]]) -> dict[str, tuple[Any, str]]:
    """The models to show: the pair's, with --arm/--mdm replacing one; a path given without --pair
    is shown alone (as if the other model were given as none)."""
    named = [role for role in ROLES if role in options]
    if "pair" not in options and len(named) == 1:
        other = next(role for role in ROLES if role not in options)
        return {**options, other: (NONE, f"--{other}")}
    return options


def render_example(subject: Any, example: Any) -> list[str]:
    """Lines for one example: clean and corrupted input as `subject` sees it, and its read positions."""
    tok = subject.tokenizer
    lines = []
    for label, corrupted in (("clean", False), ("corrupted", True)):
        posed = pose(subject, [example], corrupted=corrupted)
        ids = posed.input_ids[0][posed.attention_mask[0].bool()].tolist()
        lines.append(f"    {label:<9} {'|'.join(tok.decode([i]) for i in ids)}")
    reads = posed.read_positions[0].tolist()
    answer = [tok.decode([i]) for i in posed.answer_ids[0].tolist()]
    wrong = [tok.decode([i]) for i in posed.wrong_ids[0].tolist()]
    lines.append(f"    reads logits at {reads} for answer {answer} (contrast {wrong})")
    return lines


def run(args: argparse.Namespace) -> int:
    settings = settings_for(alone(options_given(args)))
    seed, n = settings["seed"], candidates(args, settings)
    for role, subject in load(settings).items():
        tasks = TaskSet(subject.tokenizer, n=n, seed=seed, budget=settings.budget)
        names = [args.task] if args.task else list(tasks)
        print(f"{role} {subject.path} ({subject.kind}), seed {seed}, {n} candidates per task ({settings.budget.name} budget):")
        for name in names:
            draw = tasks.draw(name)
            print(f"  {name} ({tasks.generators[name].regime}): {draw.summary()}")
            for i, example in enumerate(draw.examples[: args.show]):
                print(f"   #{i}")
                print("\n".join(render_example(subject, example)))
    return 0

