"""How each run option's text (from the command line or a TOML value) becomes its value.

Every function takes what the user wrote and returns the parsed value, or raises a MechtestsError
that says what to write instead; mechtests.run.settings adds where the value was set.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable

from mechtests.errors import MechtestsError


def parse_name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise MechtestsError(f"pair name {value!r} is not a plain name", "use letters, digits, '_', '-' or '.'")
    return value


def parse_path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MechtestsError(f"expected a path, got {value!r}", "pass a file or folder path")
    return value


MAX_SEED = 2**32 - 1  # numpy's legacy seeding (np.random.seed) takes 0 .. 2**32 - 1
MAX_SEEDS = 64


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


def parse_seeds(value: Any) -> tuple[int, ...]:
    """'0-3' -> (0, 1, 2, 3); '0,2,5' -> (0, 2, 5); also a TOML list of integers."""
    flag = "--mech-seeds"
    problem = MechtestsError(f"{flag} must be a range like 0-3 or a list like 0,1,2,3 of non-negative integers, got {value!r}",
                             f"e.g. {flag}=0-3")
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    else:
        raise problem
    spans: list[tuple[int, int]] = []
    for item in items:
        span = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)  # a seed, or a range of them
        if not span or int(span[2] or span[1]) < int(span[1]):
            raise problem
        spans.append((int(span[1]), int(span[2] or span[1])))
    # Sized before expanding: a range like 0-4294967296 would otherwise exhaust memory.
    count = sum(last - first + 1 for first, last in spans)
    highest = max((last for _, last in spans), default=0)
    if count > MAX_SEEDS or highest >= 2**32:
        raise MechtestsError(f"{flag}: {value!r} names {count} seeds up to {highest}",
                             f"pass at most {MAX_SEEDS} seeds, each below 2**32")
    seeds = [seed for first, last in spans for seed in range(first, last + 1)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise MechtestsError(f"{flag}: {value!r} names no seed or a seed twice", f"e.g. {flag}=0-3")
    return tuple(seeds)


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move before it is reported as drift: relative (`10%`) or absolute (`0.05`)."""

    amount: float
    relative: bool

    def allows(self, old: float, new: float) -> bool:
        limit = self.amount * abs(old) if self.relative else self.amount
        return abs(new - old) <= limit + 1e-12

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"


def parse_tolerance(value: Any) -> Tolerance:
    text = str(value).strip()
    relative = text.endswith("%")
    try:
        amount = float(text[:-1] if relative else text)
        if amount < 0 or amount != amount or amount == float("inf"):
            raise ValueError
    except ValueError:
        raise MechtestsError(
            f"tolerance must be a percentage or a non-negative number, got {value!r}",
            "e.g. --mech-tolerance 10% (relative) or --mech-tolerance 0.05 (absolute)",
        ) from None
    return Tolerance(amount / 100 if relative else amount, relative)


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


def imported_on_use(module: str, name: str) -> Callable[[Any], Any]:
    """`module.name`, imported when first called: mechtests.models.placement and mechtests.run.batching
    import torch (3 s), which the plugin, installed for every pytest in the environment, must not
    pay for at start-up in a run that leaves these options at their defaults."""

    def parse(value: Any) -> Any:
        return getattr(importlib.import_module(module), name)(value)

    parse.__name__ = name
    return parse


def parse_max_memory(value: Any) -> str:
    """The budget's text, checked (mechtests.run.batching.parse_max_memory): it travels to every
    process as $MECHTESTS_MAX_MEMORY, which each batched measurement reads."""
    imported_on_use("mechtests.run.batching", "parse_max_memory")(value)
    return str(value).strip()


def parse_expectations(value: Any) -> str:
    """auto, none, or the path of an expectations file (kept as written: mechtests.run.settings places it)."""
    if not isinstance(value, str) or not value.strip():
        raise MechtestsError(f"expected auto, none or a file, got {value!r}",
                             "write --mech-expect=auto, --mech-expect=none or --mech-expect=FILE")
    return value.strip()


def parse_sequential(value: Any) -> bool:
    """on/off (also true/false, yes/no): whether verdicts are decided in growing rounds."""
    key = value.lower() if isinstance(value, str) else value
    choices = {"on": True, "off": False}
    if isinstance(key, str) and key in choices:
        return choices[key]
    try:
        return parse_flag(value)
    except MechtestsError:
        raise MechtestsError(f"expected on or off, got {value!r}", "write --mech-sequential=on or --mech-sequential=off") from None
