"""The mechtests pytest plugin, loaded through the `pytest11` entry point.

Per test (in whichever process runs it): hypotheses become cases, `subject` tests are
parametrised over the pair ([arm], [mdm]) and grouped per model for xdist, each phase's
outcome is graded against the expectation and shown as pytest's passed, xfailed, failed or
skipped (mechtests.claims.outcomes' table), record() output and the outcome ride in user_properties.
Once per session, in the controller only: the cases are gathered, results.json is written
and rendered, the baseline gate runs and the matrix is printed.

Opt-in: the plugin is installed for every pytest in the environment, so it acts only where
asked: in a project whose pyproject.toml declares [tool.mechtests], under a conftest.py that
sets `mechtests_opt_in = True`, or on a test decorated with @mechtests.hypothesis. Anywhere
else it parametrises nothing, changes no option and writes no report.
"""

from __future__ import annotations

import os
import random
import shlex
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mechtests.claims import evidence
from mechtests.errors import MechtestsError
from mechtests.claims.hypotheses import MARK_NAME
from mechtests.claims.outcomes import ERROR, MISMATCH, WARNING, grade, as_pytest
from mechtests.run.pairs import resolve_pair, read_settings
from mechtests.plugin import junit, options, parts, preflight, progress, seeds
from mechtests.plugin.collect import CASE_PROP, EVIDENCE_PROP, GROUP_PREFIX, base_nodeid, case_of, phase_outcome
from mechtests.plugin.consistency import pytest_sessionstart  # noqa: F401 - the pair check, before any test
from mechtests.plugin.fixtures import mech_budget, mech_loader, mech_models, mech_seed, mech_tasks, pair, subject, tasks  # noqa: F401
from mechtests.plugin.controller import DESELECTED_OUTPUT_KEY, WORKER_OUTPUT_KEY, Controller
from mechtests.plugin.scheduling import CrashSafeLoadGroupScheduling, split_pair
from mechtests.plugin.state import CASE_KEY, STATE_KEY, MechtestsState, state_of


OPT_IN = "mechtests_opt_in"  # `mechtests_opt_in = True` in a conftest.py turns the plugin on below it


class MechtestsWarning(UserWarning):
    """A result that is not red but wants a look: an inconclusive verdict against its expectation."""


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


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


def _opted_in_folders(config: pytest.Config) -> list[Path]:
    """Folders of the conftest.py files loaded so far that set mechtests_opt_in = True."""
    folders = []
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).name == "conftest.py" and getattr(plugin, OPT_IN, False) is True:
            folders.append(Path(path).resolve().parent)
    return folders


def active_for(config: pytest.Config, node: Any) -> bool:
    """Does the plugin act on this test: a [tool.mechtests] project, a conftest opt-in above the
    test's file, or an @mechtests.hypothesis on it."""
    if state_of(config).declared or node.get_closest_marker(MARK_NAME) is not None:
        return True
    path = Path(node.path).resolve()
    return any(path.is_relative_to(folder) for folder in _opted_in_folders(config))


def _asked_for(config: pytest.Config) -> bool:
    """Before collection: is this a mechtests run (a declared project, an opt-in among the
    conftests loaded so far, or a mechtests option on the command line)?"""
    if declares_mechtests(Path(config.rootpath)) or _opted_in_folders(config):
        return True
    return any(config.getoption(opt.dest) is not None for opt in options.OPTIONS)


# --- options and configuration ----------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mechtests", "mechtests: hypotheses over an ARM / MDM pair")
    options.add_options(group.addoption)


LOADGROUP_KEY = "mechtests_loadgroup"


def _dist_given(config: pytest.Config) -> bool:
    """Did the user choose a --dist mode? (xdist may already have turned dist 'no' into 'load'
    when its hook runs before ours, so the option's value alone cannot tell.)"""
    args = list(config.invocation_params.args) + shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    args += list(config.getini("addopts"))
    return any(a in ("--dist", "-d") or a.startswith("--dist=") for a in args)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """With -n and no --dist, schedule by xdist_group so each model loads on few workers (only in
    a mechtests run: another project's scheduling is not ours to change)."""
    opt = config.option
    if (getattr(opt, "numprocesses", None) and not _dist_given(config) and not getattr(opt, "distload", False)
            and _asked_for(config)):
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
    if config.getvalue("dist") != "loadgroup" or not _asked_for(config):
        return None
    return CrashSafeLoadGroupScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK_NAME}(spec): set by @mechtests.hypothesis; do not use directly")
    rootdir = Path(config.rootpath)
    invocation_dir = Path(config.invocation_params.dir)
    declared = declares_mechtests(rootdir)
    try:
        table = read_settings(rootdir) if declared else {}
        settings = options.resolve(config.getoption, table)
        # --arm/--mdm from the command line are relative to where pytest started; from
        # pyproject ([tool.mechtests] arm = ...) relative to the rootdir, like the pair's paths.
        overrides = {r: options.place(settings[r], settings[r + "_from_cli"], invocation_dir, rootdir) for r in ("arm", "mdm")}
        pair_paths = resolve_pair(table, rootdir, name=settings["pair"], invocation_dir=invocation_dir,
                                  arm=overrides["arm"] and str(overrides["arm"]), mdm=overrides["mdm"] and str(overrides["mdm"]))

        def place(key: str) -> Path | None:
            return options.place(settings[key], settings[key + "_from_cli"], invocation_dir, rootdir)

        report_dir, baseline, save_baseline = place("report"), place("baseline"), place("save-baseline")
        checked = None
        if not _is_worker(config) and _asked_for(config):
            checked = preflight.check(settings, report_dir, baseline, save_baseline)
    except MechtestsError as err:
        raise pytest.UsageError(f"mechtests: {err}") from None
    state = config.stash[STATE_KEY] = MechtestsState(
        settings=settings, pair=pair_paths, rootdir=rootdir, invocation_dir=invocation_dir,
        report_dir=report_dir, baseline=baseline, save_baseline=save_baseline,
        is_worker=_is_worker(config), started=time.time(), declared=declared,
        baseline_data=checked,
    )
    if settings["max-memory"] is not None:
        _export_max_memory(config, settings["max-memory"])
    if not state.is_worker:
        config.pluginmanager.register(Controller(config, state), "mechtests-controller")
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
    metafunc.parametrize("subject", ["arm", "mdm"], indirect=True, ids=["arm", "mdm"])


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
    """record() calls made while this test runs go into its user_properties."""
    with evidence.collecting(lambda entry: item.user_properties.append((EVIDENCE_PROP, entry))):
        return (yield)


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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Each phase's outcome, graded against the expectation, decides what pytest reports.
    tryfirst: this wrapper runs outermost, so it has the last word over pytest's skipping plugin."""
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        report = yield
        if parts.part_name(item) is not None:
            parts.not_applicable_skips(report, call)
        return report
    state = state_of(item.config)
    entries = [value for name, value in item.user_properties if name == EVIDENCE_PROP]
    outcome, message = phase_outcome(call, item, entries)
    strict = state.settings["strict"]
    graded = grade(outcome, case["expected"], strict) if outcome is not None else None
    explain = graded in (MISMATCH, ERROR) and call.excinfo is not None and call.when != "teardown"
    if explain and hasattr(call.excinfo.value, "add_note"):
        why = message if outcome == ERROR and not (message or "").startswith(call.excinfo.exconly()[:60]) else None
        call.excinfo.value.add_note(_explanation(item, case, state, outcome, why))
    report = yield
    report.user_properties.append((CASE_PROP, {"case": case, "outcome": outcome, "message": message}))
    if outcome is not None:
        _show(report, item, case, state, outcome, message)
    return report


def _show(report: pytest.TestReport, item: pytest.Item, case: dict[str, Any], state: MechtestsState,
          outcome: str, message: str | None) -> None:
    """Set the report's pytest outcome from mechtests.claims.outcomes' table."""
    expected, strict = case["expected"], state.settings["strict"]
    shown = as_pytest(outcome, expected, strict)
    if hasattr(report, "wasxfail"):
        del report.wasxfail
    who = f"hypothesis {case['key']!r} on {case['model']}"
    if shown == "passed":
        report.outcome, report.longrepr = "passed", None
        if grade(outcome, expected, strict) == WARNING:
            item.warn(MechtestsWarning(
                f"{who}: {outcome}, expected {expected}{': ' + message if message else ''} "
                "(a warning; --mech-strict makes it a failure)"))
    elif shown == "xfailed":
        report.outcome = "skipped"
        report.wasxfail = f"{who}: {outcome} as expected" + (f" ({case['reason']})" if case["reason"] else "")
    elif shown == "skipped":
        path, lineno = item.reportinfo()[:2]
        report.outcome = "skipped"
        report.longrepr = (os.fspath(path), (lineno or 0) + 1, f"not applicable: {message}")
    else:
        report.outcome = "failed"
        if report.longrepr is None or isinstance(report.longrepr, tuple):
            report.longrepr = _no_exception_failure(item, case, state, outcome, message)
        elif message and message.startswith("MechtestsError: "):
            report.longrepr = f"{message}\n{_explanation(item, case, state, outcome)}"


EXPECTED_PHRASE = {"fails": "fail", "inconclusive": "be inconclusive", "holds": "hold"}


def _no_exception_failure(item: pytest.Item, case: dict[str, Any], state: MechtestsState, outcome: str,
                          message: str | None) -> str:
    """The failure text of a case that raised nothing: it held against an expected fails, or
    its thresholded statistic was not a number."""
    if outcome == "holds":
        head = (f"[XPASS(strict)] hypothesis {case['key']!r} was expected to {EXPECTED_PHRASE[case['expected']]} "
                f"on {case['model']} but holds: the mechanism appeared. If that is the new truth, set "
                f"expect={{'{case['model']}': 'holds'}}.")
    else:
        head = f"mechtests: {message}"
    return f"{head}\n{_explanation(item, case, state, outcome)}"


def _explanation(item: pytest.Item, case: dict[str, Any], state: MechtestsState, outcome: str,
                 why: str | None = None) -> str:
    """The notes under a surprising result: model, evidence against thresholds, seed, rerun command."""
    lines = [f"mechtests: hypothesis {case['key']!r} on {case['model']}: expected {case['expected']}, got {outcome}"]
    if why:
        lines.append(f"  why: {why}")
    if case["claim"]:
        lines.append(f"  claim: {case['claim']}")
    for name, value in item.user_properties:
        if name == EVIDENCE_PROP:
            lines.append(f"  {evidence.describe(value)}")
    lines.append(f"  seed: {seeds.seed_of(item, state.settings['seed'])}")
    lines.append(f"  rerun: {state.rerun(base_nodeid(item.nodeid))}")
    return "\n".join(lines)


# --- worker: hand the collected cases to the controller --------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = state_of(session.config)
    if state.is_worker:
        session.config.workeroutput[WORKER_OUTPUT_KEY] = state.collected  # type: ignore[attr-defined]
        session.config.workeroutput[DESELECTED_OUTPUT_KEY] = state.deselected  # type: ignore[attr-defined]
