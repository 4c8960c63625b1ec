"""The run options (mechtests.run.settings) on a command line: declared with pytest's or argparse's
`addoption`, and read back with the flag each was given with, as typed.

Each option is stored as (value, flag): a value given as `--pair smollm2` is reported in errors
and rerun commands as `--pair`, one given as `--mech-pair smollm2` as `--mech-pair`. Nothing is
parsed here: mechtests.run.settings.resolve parses the value that wins, once.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence

from mechtests.run.settings import BY_KEY, OPTIONS


class _Given(argparse.Action):
    """Stores (value, the flag as typed), so that errors and the rerun command name the flag the user used."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, (self.const if self.nargs == 0 else values, option_string))


def add_option(addoption: Callable[..., Any], key: str, *names: str, help: str | None = None) -> None:
    """Declare option `key` with `addoption` (pytest's or argparse's) under `names` (default: its flag)."""
    opt = BY_KEY[key]
    shape = {"nargs": 0, "const": opt.const} if opt.const is not None else {"metavar": opt.metavar}
    addoption(*(names or (opt.flag,)), dest=opt.dest, action=_Given, default=None, help=help or opt.help, **shape)


def add_options(addoption: Callable[..., Any], keys: Sequence[str] | None = None, short: bool = False) -> None:
    """Declare the options (all, or those in `keys`) under their flags; with `short`, under their
    short names too (the commands)."""
    for opt in OPTIONS:
        if keys is None or opt.key in keys:
            add_option(addoption, opt.key, *([opt.short] if short and opt.short else []), opt.flag)


def add_short_names(addoption: Callable[..., Any]) -> None:
    """Declare --pair, --arm and --mdm on their own, as pytest takes them in a project that
    declares [tool.mechtests] (mechtests.plugin.opt_in)."""
    for opt in OPTIONS:
        if opt.short is not None:
            add_option(addoption, opt.key, opt.short, help=f"same as {opt.flag}")


def given(read: Callable[[str], Any]) -> dict[str, tuple[Any, str]]:
    """The options given on a command line, {key: (value, flag as typed)}; `read(dest)` reads the
    parsed namespace (None for an option not given)."""
    return {opt.key: given for opt in OPTIONS if (given := read(opt.dest)) is not None}
