"""A run's settings, declared once and resolved once, for the plugin and every command.

Each option is a command-line flag (`--mech-...`; the pair and its models also by the short
names `--pair`, `--arm`, `--mdm`, which the commands always take and pytest takes in a project
that declares [tool.mechtests]) and a key of `[tool.mechtests]` in pyproject.toml. One
precedence decides every value: the command line, then the pair table (its `budget`; a model's
`device` and `dtype`), then [tool.mechtests], then the default. Only the value that wins is
parsed, once, by the option's parse function; a bad one is a MechtestsError that names where it
was set (the flag as typed, or the pyproject key), the value and what to write instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mechtests.claims.expectations import AUTO, NONE
from mechtests.errors import MechtestsError
from mechtests.run.budget import BUDGETS, Budget, parse_budget
from mechtests.run.parsing import (imported_on_use, parse_expectations, parse_flag, parse_max_memory, parse_name, parse_path,
                                   parse_seed, parse_seeds, parse_sequential, parse_split, parse_tolerance)
from mechtests.run.locations import is_location_keyword
from mechtests.run.pairs import ROLES, PairPaths, declared_pairs, resolve_pair


# --- the options ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    flag: str
    key: str  # the key in [tool.mechtests]
    metavar: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    const: Any = None  # a flag without a value: given, it means `const`
    short: str | None = None  # the short name: the commands', and pytest's in a project that declares [tool.mechtests]

    @property
    def dest(self) -> str:
        return "mechtests_" + self.key.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("--mech-pair", "pair", "NAME", parse_name, None,
           "model pair declared under [tool.mechtests.pairs] (default: [tool.mechtests] pair)", short="--pair"),
    Option("--mech-arm", "arm", "PATH", parse_path, None, "ARM checkpoint (a folder, a .gguf file, pkg:MODULE/PATH, or none "
           "for a one-model run), replacing the pair's (default: the pair's arm)", short="--arm"),
    Option("--mech-mdm", "mdm", "PATH", parse_path, None, "MDM checkpoint (a folder, a .gguf file, pkg:MODULE/PATH, or none "
           "for a one-model run), replacing the pair's (default: the pair's mdm)", short="--mdm"),
    Option("--mech-budget", "budget", "|".join(BUDGETS), parse_budget, "default",
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
    Option("--mech-expect", "expect", "auto|none|FILE", parse_expectations, "auto",
           "the expectations verdicts are judged against: auto (the pair table's, else each hypothesis's own), none "
           "(discovery: every verdict is reported and only an error fails the run), or a file that "
           "--mech-save-expectations wrote (default: auto)"),
    Option("--mech-save-expectations", "save-expectations", "FILE", parse_path, None,
           "write this run's verdicts as expectations to FILE, for a pair table's `expect` or --mech-expect (default: off)"),
    Option("--mech-sequential", "sequential", "on|off", parse_sequential, None,
           "decide each verdict as soon as its evidence is in, measuring in growing rounds (on), or measure the whole "
           "sample (off) (default: the budget's: on, but off for paper)"),
    Option("--mech-ray", "ray", "ADDRESS", parse_path, None,
           "run the tests on the Ray cluster at ADDRESS (auto, HOST:PORT or ray://HOST:PORT; needs the ray extra); this "
           "process collects, schedules and writes the reports (default: off)"),
    Option("--mech-strict", "strict", "", parse_flag, False,
           "an inconclusive verdict against its expectation, or a move into or out of inconclusive against the "
           "baseline, fails the run instead of warning (default: off)", const=True),
    Option("--mech-verify-weights", "verify-weights", "", parse_flag, False, "read and hash every checkpoint's weights on "
           "load, instead of the sha256 kept in the cache folder while the files are unchanged (default: off)", const=True),
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
BY_KEY = {o.key: o for o in OPTIONS}
SETTING_KEYS = {o.key for o in OPTIONS} | {"pairs"}
PATH_KEYS = ("report", "baseline", "save-baseline", "save-expectations")
Layers = Sequence[tuple[str, Mapping[str, Any]]]  # (where, table): the places after the command line, in order


# --- resolving --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSettings:
    """A run's settings, resolved: each option's parsed value (None: unset, and no default),
    where it was set, the run's checkpoints, and the path options as absolute paths."""

    values: Mapping[str, Any]
    where: Mapping[str, str]  # key -> the flag as typed or the pyproject key; absent: the default
    pair: PairPaths
    paths: Mapping[str, Path | None]  # PATH_KEYS, placed (see `place`), and "expect" when it names a file

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def budget(self) -> Budget:
        return self.values["budget"]

    def flag(self, key: str) -> str | None:
        """The flag `key` was given with, as typed; None when the command line did not give it."""
        where = self.where.get(key)
        return where if where is not None and where.startswith("-") else None

    def label(self, key: str) -> str:
        """Where `key` was set, for error messages: the flag as typed, or its pyproject key."""
        return self.where.get(key, f"[tool.mechtests] {key}")

    def load_options(self, role: str) -> dict[str, Any]:
        """load_subject's options for `role`: the pair table's, with device and dtype by the one
        precedence (the command line, the pair table, [tool.mechtests]); the checkpoint's mechtests
        block and the family's defaults come after, inside load_subject."""
        options = self.pair.load_options(role)
        for key in ("device", "dtype"):
            if self.flag(key) or key not in options:
                options[key] = self.values[key]
        return options


def resolve(given: Mapping[str, tuple[Any, str]], table: dict[str, Any], rootdir: Path, invocation_dir: Path) -> RunSettings:
    """Every option, the pair and the paths of a run, from the options given on the command line
    (mechtests.run.command_line.given) and the [tool.mechtests] table (mechtests.run.pairs.read_settings).
    Paths given on the command line are relative to `invocation_dir`, those in pyproject.toml to `rootdir`."""
    # Sub-tables ([tool.mechtests.eval], ...) belong to other commands; plain keys must be ours.
    unknown = {k for k, v in table.items() if not isinstance(v, dict)} - SETTING_KEYS
    if unknown:
        raise MechtestsError(f"[tool.mechtests] has unknown keys {sorted(unknown)}", f"use only {sorted(SETTING_KEYS)}")
    values: dict[str, Any] = {}
    where: dict[str, str] = {}

    def take(opt: Option, layers: Layers) -> None:
        values[opt.key], source = _chosen(opt, given, layers)
        if source is not None:
            where[opt.key] = source

    project = ("[tool.mechtests]", table)
    for opt in OPTIONS:
        if opt.key != "budget":  # after the pair, whose table may name one
            take(opt, [project])
    models = {role: place(values[role], role in given, invocation_dir, rootdir) for role in ROLES}
    pair = resolve_pair(table, rootdir, name=values["pair"], invocation_dir=invocation_dir,
                        labels={role: where.get(role, f"--{role}") for role in ROLES},
                        **{role: str(path) for role, path in models.items() if path is not None})
    pair_table = declared_pairs(table)[pair.name] if pair.name is not None else {}
    take(BY_KEY["budget"], [(f"[tool.mechtests.pairs.{pair.name}]", pair_table), project])
    paths = {key: place(values[key], key in given, invocation_dir, rootdir) for key in PATH_KEYS}
    if values["expect"] not in (AUTO, NONE):  # --mech-expect=FILE; auto and none are not paths
        paths["expect"] = place(values["expect"], "expect" in given, invocation_dir, rootdir)
    return RunSettings(values=values, where=where, pair=pair, paths=paths)


def _chosen(opt: Option, given: Mapping[str, tuple[Any, str]], layers: Layers) -> tuple[Any, str | None]:
    """The one precedence: the command line's value, else that of the first layer that sets it,
    else the default; parsed once. Returns the value and where it was set (None: the default)."""
    layered = ((layer[opt.key], f"{name} {opt.key}") for name, layer in layers if opt.key in layer)
    raw, source = given[opt.key] if opt.key in given else next(layered, (opt.default, None))
    try:
        return (None if raw is None else opt.parse(raw)), source
    except MechtestsError as err:
        raise MechtestsError(f"{source or f'[tool.mechtests] {opt.key}'}: {err.problem}", err.fix) from None


def place(value: str | None, from_cli: bool, invocation_dir: Path, rootdir: Path) -> Path | None:
    """A path option as an absolute Path: relative to where the command started, or to the rootdir."""
    if value is None:
        return None
    if is_location_keyword(value):  # `none`, `pkg:...`: not relative to any folder (mechtests.run.pairs)
        return Path(value)
    return ((invocation_dir if from_cli else rootdir) / value).resolve()
