"""The mechtests pytest plugin, loaded through the `pytest11` entry point.

Per test (in whichever process runs it): hypotheses become cases, `subject` tests are
parametrised over the pair ([arm], [mdm]) and grouped per model for xdist, expected failures
become strict xfails, record() output and each phase's verdict ride in user_properties.
Once per session, in the controller only: the cases are gathered, results.json is written
and rendered, the baseline gate runs and the matrix is printed.

Tests that take neither `subject` nor `pair` and carry no @hypothesis are left alone and, if
a session has only such tests, no report is written.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mechtests import evidence
from mechtests.errors import MechtestsError
from mechtests.hypotheses import MARK_NAME
from mechtests.pairs import resolve_pair, read_settings
from mechtests.plugin import junit, options, progress
from mechtests.plugin.collect import CASE_PROP, EVIDENCE_PROP, GROUP_PREFIX, base_nodeid, case_of, phase_status
from mechtests.plugin.fixtures import mech_loader, mech_models, mech_seed, mech_tasks, pair, subject, tasks  # noqa: F401
from mechtests.plugin.controller import WORKER_OUTPUT_KEY, Controller
from mechtests.plugin.scheduling import split_pair
from mechtests.plugin.state import CASE_KEY, STATE_KEY, MechtestsState, state_of


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# --- options and configuration ----------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mechtests", "mechtests: hypotheses over an ARM / MDM pair")
    options.add_options(group.addoption)


LOADGROUP_KEY = "mechtests_loadgroup"


def _dist_given(config: pytest.Config) -> bool:
    """Did the user choose a --dist mode? (xdist may already have turned dist 'no' into 'load'
    when its hook runs before ours, so the option's value alone cannot tell.)"""
    import os
    import shlex

    args = list(config.invocation_params.args) + shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    args += list(config.getini("addopts"))
    return any(a in ("--dist", "-d") or a.startswith("--dist=") for a in args)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """With -n and no --dist, schedule by xdist_group so each model loads on few workers."""
    opt = config.option
    if getattr(opt, "numprocesses", None) and not _dist_given(config) and not getattr(opt, "distload", False):
        opt.dist = "loadgroup"
    if _is_worker(config) and config.workerinput.get(LOADGROUP_KEY):  # type: ignore[attr-defined]
        opt.loadgroup = True  # a worker re-parses the command line, which may not say --dist loadgroup
    return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker whether tests are grouped (it suffixes node ids then)."""
    node.workerinput[LOADGROUP_KEY] = node.config.getoption("dist") == "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from mechtests.plugin.scheduling import CrashSafeLoadGroupScheduling

    return CrashSafeLoadGroupScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK_NAME}(spec): set by @mechtests.hypothesis; do not use directly")
    rootdir = Path(config.rootpath)
    invocation_dir = Path(config.invocation_params.dir)
    try:
        table = read_settings(rootdir)
        settings = options.resolve(config.getoption, table)
        # --arm/--mdm from the command line are relative to where pytest started; from
        # pyproject ([tool.mechtests] arm = ...) relative to the rootdir, like the pair's paths.
        overrides = {r: options.place(settings[r], settings[r + "_from_cli"], invocation_dir, rootdir) for r in ("arm", "mdm")}
        pair_paths = resolve_pair(table, rootdir, name=settings["pair"], invocation_dir=invocation_dir,
                                  arm=overrides["arm"] and str(overrides["arm"]), mdm=overrides["mdm"] and str(overrides["mdm"]))

        def place(key: str) -> Path | None:
            return options.place(settings[key], settings[key + "_from_cli"], invocation_dir, rootdir)

        baseline = place("baseline")
        if baseline is not None and not baseline.is_file() and not _is_worker(config):
            raise MechtestsError(f"--mech-baseline: {baseline} does not exist",
                                 f"create it with --mech-save-baseline {settings['baseline']} on a known-good run")
    except MechtestsError as err:
        raise pytest.UsageError(f"mechtests: {err}") from None
    state = config.stash[STATE_KEY] = MechtestsState(
        settings=settings, pair=pair_paths, rootdir=rootdir, invocation_dir=invocation_dir,
        report_dir=place("report"), baseline=baseline, save_baseline=place("save-baseline"),
        is_worker=_is_worker(config), started=time.time(),
    )
    if not state.is_worker:
        config.pluginmanager.register(Controller(config, state), "mechtests-controller")
    junit.register(config, state)
    progress.register(config, state)


# --- collection ---------------------------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes `subject` once per model of the pair: [arm] and [mdm]."""
    if "subject" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "subject" in names:
            return
    metafunc.parametrize("subject", ["arm", "mdm"], indirect=True, ids=["arm", "mdm"])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Attach each hypothesis's case, its xfail expectation and its model's xdist group."""
    state = state_of(config)
    seen: dict[tuple[str, str], str] = {}
    split = split_pair(state.settings["split-pair"], state.pair)
    for item in items:
        try:
            case = case_of(item)
        except MechtestsError as err:
            raise pytest.UsageError(f"mechtests: {err}") from None
        if case is None:
            continue
        slot = (case["key"], case["model"])
        if slot in seen:
            raise pytest.UsageError(
                f"mechtests: hypothesis id {case['key']!r} [{case['model']}] is used by both {seen[slot]} and "
                f"{item.nodeid}; give one of them @mechtests.hypothesis(id=...)"
            )
        seen[slot] = item.nodeid
        item.stash[CASE_KEY] = case
        state.collected[item.nodeid] = case
        names = getattr(item, "fixturenames", ())
        if "subject" in names or "pair" in names or "tasks" in names:
            group = case["model"] if case["model"] in ("arm", "mdm") else "pair"
            if group == "pair" and split:
                group = f"pair-{case['key']}"  # xdist hands these out one by one as workers free up
            item.add_marker(pytest.mark.xdist_group(name=GROUP_PREFIX + group))
        if case["expected"] == "fails" and not case["problem"]:
            why = case["reason"] or "expected not to hold"
            item.add_marker(pytest.mark.xfail(
                strict=True, raises=AssertionError,
                reason=f"{case['key']} [{case['model']}]: {why} (expect={case['expected']})",
            ))


# --- running one test ---------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """record() calls made while this test runs go into its user_properties."""
    with evidence.collecting(lambda entry: item.user_properties.append((EVIDENCE_PROP, entry))):
        return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        return
    if case["problem"]:
        raise MechtestsError(case["problem"])
    _seed_everything(state_of(item.config).settings["seed"])


def _seed_everything(seed: int) -> None:
    """Same seed before every case, so no result depends on which tests ran before it."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        return (yield)
    state = state_of(item.config)
    status, message = phase_status(call)
    explain = call.when == "call" and status in ("fails", "error") and status != case["expected"]
    if explain and hasattr(call.excinfo.value, "add_note"):
        call.excinfo.value.add_note(_explanation(item, case, state, status))
    report = yield
    report.user_properties.append((CASE_PROP, {"case": case, "status": status, "message": message}))
    if call.excinfo is not None and isinstance(call.excinfo.value, MechtestsError) and report.failed:
        report.longrepr = f"{message}\n{_explanation(item, case, state, status)}"
    elif call.when == "call" and status == "ok" and case["expected"] == "fails":
        report.longrepr = (
            f"[XPASS(strict)] hypothesis {case['key']!r} was expected to fail on {case['model']} but holds: "
            f"the mechanism appeared. If that is the new truth, set expect={{'{case['model']}': 'holds'}}.\n"
            + _explanation(item, case, state, "holds")
        )
    return report


def _explanation(item: pytest.Item, case: dict[str, Any], state: MechtestsState, status: str) -> str:
    """The notes under a surprising result: model, evidence against thresholds, seed, rerun command."""
    lines = [f"mechtests: hypothesis {case['key']!r} on {case['model']}: expected {case['expected']}, got {status}"]
    if case["claim"]:
        lines.append(f"  claim: {case['claim']}")
    for name, value in item.user_properties:
        if name == EVIDENCE_PROP:
            lines.append(f"  {evidence.describe(value)}")
    lines.append(f"  seed: {state.settings['seed']}")
    lines.append(f"  rerun: {state.rerun(base_nodeid(item.nodeid))}")
    return "\n".join(lines)


# --- worker: hand the collected cases to the controller --------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = state_of(session.config)
    if state.is_worker:
        session.config.workeroutput[WORKER_OUTPUT_KEY] = state.collected  # type: ignore[attr-defined]
