"""The run settings of a command that runs models (`eval`, `tasks`, `plan`), resolved as a test
run's are (mechtests.run.settings): the command line, then the pair table, then
[tool.mechtests], then the default.

The project is the pyproject.toml that declares [tool.mechtests] in the working directory or
above it, else the checkout this package lives in; paths on the command line are relative to
the working directory. Naming both models (`--arm PATH --mdm PATH`) without `--pair` makes them
the pair, and needs no project.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.models import identity
from mechtests.run import cache
from mechtests.run.command_line import add_option, add_options, given
from mechtests.run.pairs import read_settings
from mechtests.run.settings import RunSettings, resolve


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """--pair, --arm and --mdm (also by pytest's names for them: --mech-pair, --mech-arm, --mech-mdm)."""
    add_options(parser.add_argument, ("pair", "arm", "mdm"), short=True)


def add_draw_arguments(parser: argparse.ArgumentParser) -> None:
    """--n, --seed and the run budget: how the task examples are drawn; device and dtype: how the
    models run (the suites' cache keys name both)."""
    parser.add_argument("--n", type=positive_int, default=None, metavar="N",
                        help="candidate examples per task (default: the run budget's, as the suites draw them: "
                             "1000 under default, 200 under quick)")
    add_seed_argument(parser)
    add_options(parser.add_argument, ("budget", "device", "dtype"))


def candidates(args: argparse.Namespace, settings: RunSettings) -> int:
    """Candidate examples per task: --n, else the run budget's (by the one precedence: --mech-budget,
    the pair table's `budget`, [tool.mechtests] budget, default)."""
    return args.n or settings.budget.candidates


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    """--seed: the run's seed (pytest's --mech-seed) under the commands' name for it."""
    add_option(parser.add_argument, "seed", "--seed", help="seed of the task generators (default: [tool.mechtests] seed, else 0)")


def options_given(args: argparse.Namespace) -> dict[str, tuple[Any, str]]:
    """The run options on this command line, {key: (value, flag as typed)}."""
    return given(vars(args).get)


def find_project(start: Path | None = None) -> Path:
    """The folder of the pyproject.toml that declares [tool.mechtests]: the working directory or
    a parent of it, else the checkout this package lives in."""
    here = start or Path.cwd()
    for folder in [here, *here.parents, Path(__file__).resolve().parents[2]]:
        if read_settings(folder):
            return folder
    raise MechtestsError("no pyproject.toml with a [tool.mechtests] table here or above",
                         "run from the mechtests checkout, or pass --arm PATH --mdm PATH")


def settings_for(options: dict[str, tuple[Any, str]]) -> RunSettings:
    """The run settings for `options` (`options_given`), with at least one model."""
    both = "arm" in options and "mdm" in options and "pair" not in options
    try:
        root = find_project()
        table = read_settings(root)
    except MechtestsError:
        if not both:
            raise
        root, table = Path.cwd(), {}
    if both:  # the two models named are the pair
        table = {key: value for key, value in table.items() if key != "pair"}
    settings = resolve(options, table, root, Path.cwd())
    if not settings.pair.roles:
        settings.pair.path("arm")  # raises: says how to name a model
    identity.remember_in(cache.cache_dir(), verify=settings["verify-weights"])  # the weights hashed once
    return settings
