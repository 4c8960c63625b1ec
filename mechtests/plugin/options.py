"""The plugin's options, defined once.

Each option is a command-line flag and a key of `[tool.mechtests]` in pyproject.toml; the
flag wins over the key, the key over the default. Values are parsed here by one function per
option, which raises MechtestsError naming the option, the bad value and what to write
instead; the plugin turns that into a one-line pytest usage error.
"""

from __future__ import annotations

import argparse
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mechtests.run.budget import BUDGETS, parse_budget
from mechtests.errors import MechtestsError
from mechtests.run.pairs import is_location_keyword
from mechtests.plugin.seeds import parse_seeds
from mechtests.reports.gate import parse_tolerance


# --- parse functions: str (or a TOML value) -> value, or MechtestsError --------------------
def parse_name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise MechtestsError(f"pair name {value!r} is not a plain name", "use letters, digits, '_', '-' or '.'")
    return value


def parse_path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MechtestsError(f"expected a path, got {value!r}", "pass a file or folder path")
    return value


MAX_SEED = 2**32 - 1  # numpy's legacy seeding (np.random.seed) takes 0 .. 2**32 - 1


def parse_seed(value: Any) -> int:
    try:
        seed = int(value)
        if isinstance(value, (float, bool)) or seed < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise MechtestsError(f"seed must be a non-negative integer, got {value!r}", "e.g. --mech-seed 0") from None
    if seed > MAX_SEED:
        raise MechtestsError(f"seed {seed} is above {MAX_SEED}, the largest seed numpy takes", "e.g. --mech-seed 0")
    return seed


def imported_on_use(module: str, name: str) -> Callable[[Any], Any]:
    """`module.name`, imported when first called: mechtests.models.placement and mechtests.run.batching import
    torch (3 s), which the plugin, installed for every pytest in the environment, must not pay for
    at start-up in a run that leaves these options at their defaults."""

    def parse(value: Any) -> Any:
        return getattr(importlib.import_module(module), name)(value)

    parse.__name__ = name
    return parse


def parse_max_memory(value: Any) -> str:
    """The budget's text, checked (mechtests.run.batching.parse_max_memory): it travels to every
    process as $MECHTESTS_MAX_MEMORY, which each batched measurement reads."""
    imported_on_use("mechtests.run.batching", "parse_max_memory")(value)
    return str(value).strip()


def parse_budget_name(value: Any) -> str:
    return parse_budget(value).name


def parse_split(value: Any) -> str:
    choices = {True: "yes", False: "no", "yes": "yes", "no": "no", "auto": "auto", "true": "yes", "false": "no"}
    key = value.lower() if isinstance(value, str) else value
    if not isinstance(key, (str, bool)) or key not in choices:
        raise MechtestsError(f"expected yes, no or auto, got {value!r}", "write yes, no or auto (or true/false in pyproject.toml)")
    return choices[key]


def parse_flag(value: Any) -> bool:
    choices = {True: True, False: False, "yes": True, "no": False, "true": True, "false": False}
    key = value.lower() if isinstance(value, str) else value
    if not isinstance(key, (str, bool)) or key not in choices:
        raise MechtestsError(f"expected true or false, got {value!r}", "write true or false (yes or no)")
    return choices[key]


@dataclass(frozen=True)
class Option:
    flag: str
    key: str  # the key in [tool.mechtests]
    metavar: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    const: Any = None  # a flag without a value: given, it means `const`

    @property
    def dest(self) -> str:
        return "mechtests_" + self.key.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("--pair", "pair", "NAME", parse_name, None,
           "model pair declared under [tool.mechtests.pairs] (default: [tool.mechtests] pair)"),
    Option("--arm", "arm", "PATH", parse_path, None, "ARM checkpoint (a folder, a .gguf file, pkg:MODULE/PATH, or none for "
           "a one-model run), replacing the pair's (default: the pair's arm)"),
    Option("--mdm", "mdm", "PATH", parse_path, None, "MDM checkpoint (a folder, a .gguf file, pkg:MODULE/PATH, or none for "
           "a one-model run), replacing the pair's (default: the pair's mdm)"),
    Option("--mech-budget", "budget", "|".join(BUDGETS), parse_budget_name, None,
           "run budget: pool sizes, EAP-IG steps, bootstrap and control draws, circuit size K (default: the pair's "
           "budget, else default, which reproduces the bundled pair's settings)"),
    Option("--mech-report", "report", "DIR", parse_path, "reports/",
           "folder for results.json, report.html and summary.md (default: reports/)"),
    Option("--mech-seed", "seed", "N", parse_seed, 0, "seed for tasks, sampling and bootstrap intervals (default: 0)"),
    Option("--mech-seeds", "seeds", "SEEDS", parse_seeds, None,
           "run every hypothesis at each of these evaluation seeds, e.g. 0-3 or 0,1,2,3, and report the verdict per "
           "seed and whether they agree; overrides --mech-seed (default: off)"),
    Option("--mech-save-baseline", "save-baseline", "FILE", parse_path, None,
           "write this run's verdicts and key metrics to FILE (default: off)"),
    Option("--mech-baseline", "baseline", "FILE", parse_path, None,
           "fail the session when a verdict differs from baseline FILE (default: off)"),
    Option("--mech-tolerance", "tolerance", "TOL", parse_tolerance, "10%",
           "metric drift against the baseline that is reported, e.g. 10%% or 0.05 (default: 10%%)"),
    Option("--mech-split-pair", "split-pair", "yes|no|auto", parse_split, "auto",
           "give each pair-level hypothesis its own xdist group, so that several workers share them; every such "
           "worker loads both models; auto: yes when the two checkpoints' weights total under 1 GiB (default: auto)"),
    Option("--mech-strict", "strict", "", parse_flag, False,
           "an inconclusive verdict against its expectation, or a move into or out of inconclusive against the "
           "baseline, fails the run instead of warning (default: off)", const=True),
    # Device, dtype and memory budget default to None, read as auto (mechtests.models.placement, mechtests.run.batching).
    Option("--mech-device", "device", "DEVICE", imported_on_use("mechtests.models.placement", "parse_device"), None,
           "device the models run on: auto (a CUDA GPU when one is visible, else the CPU), cpu, cuda, cuda:N or mps; "
           "under xdist, auto and cuda give each worker its own GPU (default: auto)"),
    Option("--mech-dtype", "dtype", "DTYPE", imported_on_use("mechtests.models.placement", "parse_dtype"), None,
           "dtype the models run in: auto (bfloat16 on a GPU, float32 on the CPU), float32, bfloat16 or float16 "
           "(default: auto)"),
    Option("--mech-max-memory", "max-memory", "SIZE", parse_max_memory, None,
           "memory budget that every batched measurement sizes its passes to: auto (half the CPU's available memory "
           "shared among xdist workers, 80%% of a GPU's free memory), an amount such as 8GiB, or a share such as "
           "30%% (default: auto)"),
)
BY_FLAG = {o.flag: o for o in OPTIONS}
BY_KEY = {o.key: o for o in OPTIONS}
SETTING_KEYS = {o.key for o in OPTIONS} | {"pairs"}


def add_options(addoption: Callable[..., Any], flags: tuple[str, ...] | None = None, parse: bool = False) -> None:
    """Declare the options (all, or those in `flags`) with `addoption` (pytest's or argparse's).

    parse: argparse parses each value as it reads it (a stand-alone command: a bad value is its
    usage error); pytest's are parsed in `resolve`, after pyproject.toml's are known.
    """
    for opt in OPTIONS:
        if flags is not None and opt.flag not in flags:
            continue
        if opt.const is not None:
            addoption(opt.flag, dest=opt.dest, action="store_const", const=opt.const, default=None, help=opt.help)
        else:
            typed = {"type": argparse_type(opt.parse)} if parse else {}
            addoption(opt.flag, dest=opt.dest, metavar=opt.metavar, default=None, help=opt.help, **typed)


def argparse_type(parse: Callable[[Any], Any]) -> Callable[[str], Any]:
    """An argparse type from a parse function that raises MechtestsError."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except MechtestsError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = parse.__name__
    return convert


def resolve(cli: Callable[[str], Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Each option's value: command line, then [tool.mechtests], then default; parsed.

    Returns {key: value} plus {"<key>_from_cli": bool} so that paths can be resolved against
    the right folder (invocation dir for the command line, rootdir otherwise).
    """
    # Sub-tables ([tool.mechtests.eval], ...) belong to other commands; plain keys must be ours.
    unknown = {k for k, v in settings.items() if not isinstance(v, dict)} - SETTING_KEYS
    if unknown:
        raise MechtestsError(
            f"[tool.mechtests] has unknown keys {sorted(unknown)}", f"use only {sorted(SETTING_KEYS)}"
        )
    out: dict[str, Any] = {}
    for opt in OPTIONS:
        raw, from_cli = cli(opt.dest), True
        if raw is None:
            raw, from_cli = settings.get(opt.key, opt.default), False
        try:
            out[opt.key] = None if raw is None else opt.parse(raw)
        except MechtestsError as err:
            raise MechtestsError(f"{label(opt.key, from_cli)}: {err.problem}", err.fix) from None
        out[opt.key + "_from_cli"] = from_cli and raw is not None
    return out


def label(key: str, from_cli: bool) -> str:
    """How the user set an option, for error messages: its flag, or its pyproject key."""
    return BY_KEY[key].flag if from_cli else f"[tool.mechtests] {key}"


def place(value: str | None, from_cli: bool, invocation_dir: Path, rootdir: Path) -> Path | None:
    """A path option as an absolute Path: relative to where pytest started, or to the rootdir."""
    if value is None:
        return None
    if is_location_keyword(value):  # `none`, `pkg:...`: not relative to any folder (mechtests.run.pairs)
        return Path(value)
    return ((invocation_dir if from_cli else rootdir) / value).resolve()
