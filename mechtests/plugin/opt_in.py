"""Where the plugin acts. It is installed for every pytest in the environment, so it acts only
where asked: in a project whose pyproject.toml declares [tool.mechtests], under a conftest.py
that sets `mechtests_opt_in = True`, or on a test decorated with @mechtests.hypothesis.

Anywhere else pytest shows none of the names a project may want for itself: every option is
prefixed (`--mech-...`), the short names `--pair`, `--arm`, `--mdm` exist only in a project
that declares [tool.mechtests] (README and CI use them there), and the fixtures `subject`,
`pair` and `tasks` (mechtests.plugin.pair_fixtures) only once a project, a conftest.py or a
decorated test has opted in. The `mech_*` fixtures are there for everyone.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mechtests.claims.hypotheses import MARK_NAME
from mechtests.plugin import pair_fixtures
from mechtests.plugin.state import state_of
from mechtests.run.command_line import add_short_names, given

OPT_IN = "mechtests_opt_in"  # `mechtests_opt_in = True` in a conftest.py turns the plugin on below it
PAIR_FIXTURES = "mechtests-pair-fixtures"


def declares_mechtests(rootdir: Path) -> bool:
    """Does rootdir/pyproject.toml have a [tool.mechtests] table (even an empty one)?"""
    pyproject = rootdir / "pyproject.toml"
    try:
        raw = pyproject.read_bytes()
    except OSError:
        return False
    try:
        return "mechtests" in tomllib.loads(raw.decode("utf-8", "replace")).get("tool", {})
    except tomllib.TOMLDecodeError:
        return b"tool.mechtests" in raw  # ours to report (read_settings names the error); else not ours


def _opting_conftest(plugin: Any) -> Path | None:
    """The folder of a conftest.py that sets mechtests_opt_in = True; None for any other plugin."""
    path = getattr(plugin, "__file__", None)
    if path and Path(path).name == "conftest.py" and getattr(plugin, OPT_IN, False) is True:
        return Path(path).resolve().parent
    return None


def opted_in_folders(config: pytest.Config) -> list[Path]:
    """Folders of the conftest.py files loaded so far that set mechtests_opt_in = True."""
    return [folder for plugin in config.pluginmanager.get_plugins() if (folder := _opting_conftest(plugin)) is not None]


def active_for(config: pytest.Config, node: Any) -> bool:
    """Does the plugin act on this test: a [tool.mechtests] project, a conftest opt-in above the
    test's file, or an @mechtests.hypothesis on it."""
    if state_of(config).declared or node.get_closest_marker(MARK_NAME) is not None:
        return True
    path = Path(node.path).resolve()
    return any(path.is_relative_to(folder) for folder in opted_in_folders(config))


def asked_for(config: pytest.Config) -> bool:
    """Before collection: is this a mechtests run (a declared project, an opt-in among the
    conftests loaded so far, or a mechtests option on the command line)?"""
    if declares_mechtests(Path(config.rootpath)) or opted_in_folders(config):
        return True
    return bool(given(lambda dest: getattr(config.option, dest, None)))


def offer_pair_fixtures(pluginmanager: pytest.PytestPluginManager) -> None:
    """Make `subject`, `pair` and `tasks` known, once, for the rest of the session."""
    if not pluginmanager.has_plugin(PAIR_FIXTURES):
        pluginmanager.register(pair_fixtures, PAIR_FIXTURES)


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser) -> None:
    """The short names --pair, --arm, --mdm, in a project that declares [tool.mechtests] (the
    rootdir is known here, and the command line not yet parsed)."""
    if declares_mechtests(Path(early_config.rootpath)):
        add_short_names(parser.getgroup("mechtests").addoption)


def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    """A conftest.py that opts in brings the fixtures, before the tests below it are collected."""
    if _opting_conftest(plugin) is not None:
        offer_pair_fixtures(manager)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """A test decorated with @mechtests.hypothesis brings the fixtures, before pytest looks up its own."""
    marks = getattr(obj, "pytestmark", ())
    if any(getattr(mark, "name", None) == MARK_NAME for mark in (marks if isinstance(marks, list) else [marks])):
        offer_pair_fixtures(collector.config.pluginmanager)
    return (yield)
