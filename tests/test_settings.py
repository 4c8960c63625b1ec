"""Run settings (mechtests.run.settings): one precedence, one parse, and errors that name where a
value was set, with the flag as the user typed it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mechtests.errors import MechtestsError
from mechtests.run import budget as run_budget
from mechtests.run.command_line import add_options, given
from mechtests.run.settings import resolve

TABLE = {"pair": "p", "device": "cpu", "pairs": {"p": {"arm": "a", "mdm": {"path": "m", "device": "cuda:1"}, "budget": "quick"}}}


def _given(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_options(parser.add_argument, short=True)
    return given(vars(parser.parse_args(argv)).get)


def test_each_option_keeps_the_flag_it_was_given_with() -> None:
    assert _given("--pair", "p", "--mech-arm", "x", "--mech-strict") == {
        "pair": ("p", "--pair"), "arm": ("x", "--mech-arm"), "strict": (True, "--mech-strict")}


def test_one_precedence_the_command_line_then_the_pair_table_then_the_project(tmp_path: Path) -> None:
    settings = resolve(_given(), TABLE, tmp_path, tmp_path)
    assert settings.budget is run_budget.BUDGETS["quick"] and settings.label("budget") == "[tool.mechtests.pairs.p] budget"
    assert settings.load_options("arm")["device"] == "cpu" and settings.load_options("mdm")["device"] == "cuda:1"
    settings = resolve(_given("--mech-device", "mps", "--mech-budget", "paper"), TABLE, tmp_path, tmp_path / "sub")
    assert settings.budget.name == "paper" and settings.flag("budget") == "--mech-budget"
    assert settings.load_options("mdm")["device"] == "mps" and settings.flag("pair") is None
    assert settings["seed"] == 0 and settings.paths["report"] == tmp_path / "reports"


def test_paths_are_relative_to_where_they_were_set(tmp_path: Path) -> None:
    settings = resolve(_given("--arm", "x", "--mech-report", "out"), {**TABLE, "baseline": "b.json"}, tmp_path, tmp_path / "cwd")
    assert settings.pair.arm == str(tmp_path / "cwd" / "x") and settings.paths["report"] == tmp_path / "cwd" / "out"
    assert settings.paths["baseline"] == tmp_path / "b.json" and settings.label("baseline") == "[tool.mechtests] baseline"


@pytest.mark.parametrize(("argv", "table", "message"), [
    (("--mech-seed", "-1"), TABLE, "--mech-seed: seed must be a non-negative integer, got '-1'"),
    ((), {**TABLE, "seed": "x"}, "[tool.mechtests] seed: seed must be a non-negative integer, got 'x'"),
    (("--arm", "pkg:no_such_package_xyz/m.gguf"), TABLE, "--arm: package 'no_such_package_xyz'"),
    (("--mech-arm", "pkg:no_such_package_xyz/m.gguf"), TABLE, "--mech-arm: package 'no_such_package_xyz'"),
    ((), {**TABLE, "arm": "pkg:no_such_package_xyz/m.gguf"}, "[tool.mechtests] arm: package 'no_such_package_xyz'"),
    (("--mech-budget", "fast"), TABLE, "--mech-budget: unknown budget 'fast'; use one of default, paper, quick"),
    ((), {**TABLE, "colour": "red"}, "[tool.mechtests] has unknown keys ['colour']"),
])
def test_a_bad_value_names_where_it_was_set(tmp_path: Path, argv: tuple[str, ...], table: dict, message: str) -> None:
    with pytest.raises(MechtestsError) as info:
        resolve(_given(*argv), table, tmp_path, tmp_path)
    assert message in str(info.value)
