"""The mechtests pytest plugin, loaded through the `pytest11` entry point.

Per test (in whichever process runs it): hypotheses become cases, `subject` tests are
parametrised over the pair ([arm], [mdm]) and grouped per model for xdist
(mechtests.plugin.scheduling), each phase's outcome is graded against the expectation and shown
as pytest's passed, xfailed, failed or skipped (mechtests.plugin.verdicts), record() output and
the outcome ride in user_properties. Once per session, in the controller only: the cases are
gathered, results.json is written and rendered, the baseline gate runs and the matrix is
printed (mechtests.plugin.controller). The run's settings are mechtests.run.settings'.

Opt-in (mechtests.plugin.opt_in): the plugin is installed for every pytest in the environment,
so it acts only where asked: in a project whose pyproject.toml declares [tool.mechtests], under
a conftest.py that sets `mechtests_opt_in = True`, or on a test decorated with
@mechtests.hypothesis. Anywhere else it parametrises nothing, changes no option, writes no
report and adds no unprefixed option or generic fixture name.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mechtests.claims import evidence
from mechtests.claims.hypotheses import MARK_NAME, hypothesis_of
from mechtests.claims.outcomes import Inconclusive
from mechtests.errors import MechtestsError
from mechtests.plugin import cluster, expectations, junit, parts, preflight, progress, seeds
from mechtests.plugin.collect import EVIDENCE_PROP, GROUP_PREFIX, case_of
from mechtests.plugin.collection_errors import pytest_testnodedown, stop_collection  # noqa: F401
from mechtests.plugin.controller import DESELECTED_OUTPUT_KEY, WORKER_OUTPUT_KEY, Controller
from mechtests.plugin.fixtures import mech_budget, mech_loader, mech_models, mech_seed, mech_tasks  # noqa: F401
from mechtests.plugin.opt_in import (active_for, asked_for, declares_mechtests, offer_pair_fixtures,  # noqa: F401
                                     pytest_load_initial_conftests, pytest_plugin_registered, pytest_pycollect_makeitem)
from mechtests.plugin.scheduling import pytest_cmdline_main, pytest_configure_node, pytest_xdist_make_scheduler  # noqa: F401
from mechtests.plugin.scheduling import split_pair
from mechtests.plugin.state import CASE_KEY, STATE_KEY, MechtestsState, state_of
from mechtests.plugin.verdicts import pytest_runtest_makereport  # noqa: F401
from mechtests.run.command_line import add_options, given
from mechtests.run.pairs import ROLES, read_settings
from mechtests.run.settings import resolve


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# --- options and configuration ----------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    """The options, all prefixed (--mech-...); their short names come with opting in (mechtests.plugin.opt_in)."""
    add_options(parser.getgroup("mechtests", "mechtests: hypotheses over an ARM / MDM pair").addoption)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK_NAME}(spec): set by @mechtests.hypothesis; do not use directly")
    rootdir = Path(config.rootpath)
    invocation_dir = Path(config.invocation_params.dir)
    declared = declares_mechtests(rootdir)
    try:
        settings = resolve(given(config.getoption), read_settings(rootdir) if declared else {}, rootdir, invocation_dir)
        expectations.configure(config, settings)
        checked = preflight.check(settings) if not _is_worker(config) and asked_for(config) else None
    except MechtestsError as err:
        raise pytest.UsageError(f"mechtests: {err}") from None
    state = config.stash[STATE_KEY] = MechtestsState(
        settings=settings, rootdir=rootdir, invocation_dir=invocation_dir, is_worker=_is_worker(config),
        started=time.time(), declared=declared, baseline_data=checked,
    )
    if declared:
        offer_pair_fixtures(config.pluginmanager)
    if settings["max-memory"] is not None:
        _export_max_memory(config, settings["max-memory"])
    if not state.is_worker:
        config.pluginmanager.register(Controller(config, state), "mechtests-controller")
    if settings["ray"] is not None and not state.is_worker and asked_for(config):
        try:
            run_on = cluster.connect(settings["ray"], state, config.getoption("numprocesses", None))
        except MechtestsError as err:
            raise pytest.UsageError(f"mechtests: {err}") from None
        config.pluginmanager.register(cluster.ClusterRun(config, state, run_on), "mechtests-cluster")
    junit.register(config, state)
    progress.register(config, state)


def _export_max_memory(config: pytest.Config, value: str) -> None:
    """Hand --mech-max-memory to every batched measurement (mechtests.run.batching.current_limit reads
    it from the environment, as xdist workers and tools do), until this session ends."""
    from mechtests.run.batching import MAX_MEMORY_ENV  # here, not at the top: batching imports torch (start-up cost)

    previous = os.environ.get(MAX_MEMORY_ENV)
    os.environ[MAX_MEMORY_ENV] = value

    def restore() -> None:
        if previous is None:
            os.environ.pop(MAX_MEMORY_ENV, None)
        else:
            os.environ[MAX_MEMORY_ENV] = previous

    config.add_cleanup(restore)


@pytest.hookimpl(trylast=True)  # after pytest's fixture manager is made: _loads_with_mechtests reads it
def pytest_sessionstart(session: pytest.Session) -> None:
    """In the process that owns the session, before any test runs: stop a run whose pair table
    names a checkpoint that does not exist, or a two-model run whose checkpoints disagree
    (mechtests.tasks.consistency)."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is None or state.is_worker:
        return
    if _loads_with_mechtests(session):
        problem = next(filter(None, (state.pair.missing(role) for role in state.pair.roles)), None)
        if problem is not None:
            raise pytest.UsageError(f"mechtests: {problem}")
    if len(state.pair.roles) != 2:
        return
    try:
        if all(Path(state.pair.path(role)).is_dir() for role in ROLES):  # else the loader reports it, in the tests
            from mechtests.tasks import consistency  # here, not at the top: it imports transformers (start-up cost)

            options = {role: state.settings.load_options(role) for role in ROLES}
            consistency.check_pair(state.pair, options, n=state.settings.budget.candidates, seed=state.settings["seed"])
    except MechtestsError as err:
        raise pytest.UsageError(f"mechtests: {err}") from None


def _loads_with_mechtests(session: pytest.Session) -> bool:
    """Does this session load its models with mechtests' own `mech_loader`? A suite that overrides
    it (in a conftest.py loaded by now) decides itself what a path means."""
    definitions = session._fixturemanager._arg2fixturedefs.get("mech_loader", [])  # pytest has no public lookup before collection
    return all(getattr(d.func, "__module__", None) == mech_loader.__module__ for d in definitions)


# --- collection ---------------------------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes `subject` once per model of the pair: [arm] and [mdm]; under
    --mech-seeds, every test that depends on the seed once per seed."""
    if not ({"subject", seeds.SEED_FIXTURE} & set(metafunc.fixturenames)) or not active_for(metafunc.config, metafunc.definition):
        return
    seeds.parametrize(metafunc, state_of(metafunc.config).settings["seeds"])
    if "subject" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "subject" in names:
            return
    spec = hypothesis_of(metafunc.definition)
    models = list(spec.models) if spec is not None else ["arm", "mdm"]
    metafunc.parametrize("subject", models, indirect=True, ids=models)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Attach each hypothesis's case and its model's xdist group; where pair work is split over
    workers, every hypothesis gets a group of its own and its parts go first (mechtests.plugin.parts)."""
    state = state_of(config)
    seen: dict[tuple[str, str], str] = {}
    split = split_pair(state.settings["split-pair"], state.pair)
    with_parts = parts.active(config, split)
    measurements: list[pytest.Item] = []
    for item in items:
        if not active_for(config, item):
            continue
        try:
            case = case_of(item)
        except MechtestsError as err:
            stop_collection(config, items, str(err))
        if case is None:
            continue
        slot = (case["key"], case["model"])
        if slot in seen:
            stop_collection(config, items, f"hypothesis id {case['key']!r} [{case['model']}] is used by both {seen[slot]} and "
                                           f"{item.nodeid}; give one of them @mechtests.hypothesis(id=...)")
        seen[slot] = item.nodeid
        item.stash[CASE_KEY] = case
        item.stash[parts.INLINE_KEY] = not with_parts
        state.collected[item.nodeid] = case
        names = getattr(item, "fixturenames", ())
        if "subject" in names or "pair" in names or "tasks" in names:
            group = case["model"] if case["model"] in ("arm", "mdm") else "pair"
            if (group == "pair" and split) or with_parts:
                group = f"{group}-{case['key']}"  # xdist hands these out one by one as workers free up
            item.add_marker(pytest.mark.xdist_group(name=GROUP_PREFIX + seeds.group(group, item)))
            for part in parts.part_items(item) if with_parts else ():
                own = f"{group}-{parts.PREFIX}{parts.part_name(part)}"
                part.add_marker(pytest.mark.xdist_group(name=GROUP_PREFIX + seeds.group(own, part)))
                measurements.append(part)
    items[:0] = measurements


def pytest_deselected(items: list[pytest.Item]) -> None:
    """-k, -m, --deselect: those hypotheses are not_selected, not missing (the run stays complete)."""
    for item in items:
        case = item.stash.get(CASE_KEY, None)
        if case is None:
            continue
        state = state_of(item.config)
        state.collected.pop(item.nodeid, None)
        state.deselected[item.nodeid] = case


# --- running one test ---------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """record() calls made while this test runs go into its user_properties; estimates made in it
    without a seed of their own take its evaluation seed."""
    case = item.stash.get(CASE_KEY, None) is not None
    seed = seeds.seed_of(item, state_of(item.config).settings["seed"]) if case or parts.part_name(item) is not None else 0
    with evidence.collecting(lambda entry: item.user_properties.append((EVIDENCE_PROP, entry)), seed=seed, hypothesis=case):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A hypothesis whose parts are not items of their own runs them first (mechtests.plugin.parts.
    run_inline). A test that asserted a claim whose interval straddled its bar, and failed no
    assertion, ends inconclusive (mechtests.stats.estimate: fails outranks inconclusive outranks holds)."""
    if item.stash.get(CASE_KEY, None) is not None:
        parts.run_inline(item)
    result = yield
    straddled = evidence.straddling()
    if straddled:
        raise Inconclusive("; ".join(straddled))
    return result


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: Any, right: Any) -> list[str] | None:
    """`assert estimate >= bar` explains itself: the estimate, its interval and where it lies
    against the bar. (An Estimate exists only once mechtests.stats.estimate is loaded, so a run
    that never made one does not import it, nor torch, here.)"""
    estimate = sys.modules.get("mechtests.stats.estimate")
    return None if estimate is None else estimate.explain(left, op, right)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        if parts.part_name(item) is not None:
            _seed_everything(seeds.seed_of(item, state_of(item.config).settings["seed"]))
        return
    if case["problem"]:
        raise MechtestsError(case["problem"])
    _seed_everything(seeds.seed_of(item, state_of(item.config).settings["seed"]))


def _seed_everything(seed: int) -> None:
    """Same seed before every case, so no result depends on which tests ran before it."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# --- worker: hand the collected cases to the controller --------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = state_of(session.config)
    if state.is_worker:
        session.config.workeroutput[WORKER_OUTPUT_KEY] = state.collected  # type: ignore[attr-defined]
        session.config.workeroutput[DESELECTED_OUTPUT_KEY] = state.deselected  # type: ignore[attr-defined]
