"""`--mech-ray=ADDRESS`: the hypotheses run on a Ray cluster; this pytest process collects, schedules and judges.

The driver (the pytest process the user started) connects with `ray.init(address=ADDRESS)` before
any test runs (a cluster it cannot reach, or one with no node that has the memory a model needs,
is a one-line usage error, exit 4). It collects as usual, then hands the selected tests out by the
same groups xdist would use (mechtests.plugin.scheduling: a model's tests together, so each model
loads once per runner) to Ray actors, at most one per node. Each actor runs one pytest session over
its share (the same options, each test by its node id, from the driver's invocation folder, which
every node must have at the same path: a shared file system or the same checkout) and returns
pytest's serialised reports; the driver replays them through its own hooks, so the terminal, the
exit status, results.json and the reports are made here, as with xdist. The disk cache is used
where the nodes share the project's folder, and is never required.

A runner whose process or node dies is restarted by Ray (`max_restarts`) and its share run again
(`max_task_retries`), on its node or another; results are the same (every test seeds itself), and
results.json notes the retry under run.invocation.cluster. Ray itself is an optional extra:
`pip install -e .[ray]`.
"""

from __future__ import annotations

import importlib
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mechtests.errors import MechtestsError
from mechtests.plugin.collect import GROUP_PREFIX
from mechtests.plugin.scheduling import weights_bytes
from mechtests.plugin.state import MechtestsState
from mechtests.run.settings import BY_KEY

CONNECT_TIMEOUT_S = 10
RESTARTS = 3  # times Ray restarts a dead runner, and reruns the share it was running
MEMORY_PER_WEIGHT_BYTE = 4  # a runner's memory request per byte of the weights it may load: weights, activations, attributions
# Options a runner's session takes as the driver's user gave them: they decide what is measured and how.
FORWARDED = ("pair", "arm", "mdm", "budget", "seed", "seeds", "device", "dtype", "max-memory", "verify-weights",
             "sequential", "expect", "strict", "split-pair")
ENV_PREFIX = "MECHTESTS_"  # the driver's settings that travel as environment variables (a Ray worker has the raylet's)


def ray_module() -> Any:
    """ray, or a MechtestsError naming the extra that installs it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise MechtestsError("--mech-ray needs Ray, which is not installed",
                             "pip install -e '.[ray]' (or pip install 'ray>=2.60') into this environment") from None


def connect(address: str, state: MechtestsState, numprocesses: Any) -> dict[str, Any]:
    """Join the cluster at `address` and check it can run this pair; returns what the report says of it."""
    if numprocesses:
        raise MechtestsError("--mech-ray and -n both say where tests run", "drop -n: the cluster's nodes run the tests")
    ray = ray_module()
    _check_reachable(address)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception as err:  # ConnectionError, ValueError, RuntimeError: Ray's own wording follows
        raise MechtestsError(f"cannot reach a Ray cluster at {address!r} ({type(err).__name__}: {str(err).splitlines()[0]})",
                             "start one with `ray start --head` and pass its address (auto, HOST:PORT or ray://HOST:PORT)") from None
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    need = MEMORY_PER_WEIGHT_BYTE * sum(_weights_bytes(state.pair.path(role)) for role in state.pair.roles)
    try:
        largest_node_memory(nodes, need, address)
    except MechtestsError:
        ray.shutdown()
        raise
    gpus = any(n["Resources"].get("GPU", 0) >= 1 for n in nodes)
    return {"address": address, "nodes": len(nodes), "memory_bytes": need, "gpus": gpus, "retries": []}


def largest_node_memory(nodes: list[dict[str, Any]], need: float = 0.0, address: str = "") -> float:
    """The most memory (bytes) Ray offers on one live node of `nodes` (ray.nodes()); a MechtestsError
    when that is less than `need`, what one runner of the pair asks for."""
    largest = max((n["Resources"].get("memory", 0.0) for n in nodes if n.get("Alive")), default=0.0)
    if need > largest:
        raise MechtestsError(f"no node of the Ray cluster at {address!r} has the {need / 2**30:.1f} GiB a runner of this pair "
                             f"needs (largest: {largest / 2**30:.1f} GiB)", "add a node with more memory, or run without --mech-ray")
    return largest


def _check_reachable(address: str) -> None:
    """For HOST:PORT (or ray://HOST:PORT), a TCP connection first: ray.init retries an address
    where nothing listens for minutes instead of failing."""
    if address == "auto":
        return  # Ray finds the local cluster itself, and says at once when there is none
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise MechtestsError(f"--mech-ray {address!r} is not an address Ray takes", "pass auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise MechtestsError(f"cannot reach a Ray cluster at {address!r} ({err.strerror or err})",
                             "start one with `ray start --head` and pass the address it prints") from None


def _weights_bytes(path: str | None) -> int:
    return weights_bytes(Path(path)) if path and Path(path).exists() else 0  # a missing one: the loader says so


def shares(items: list[pytest.Item], runners: int) -> list[list[str]]:
    """The selected tests split into at most `runners` shares of whole xdist groups (a model's
    tests stay together), the largest groups first onto the least loaded share."""
    groups: dict[str, list[str]] = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        name = mark.kwargs.get("name") if mark is not None else None
        groups.setdefault(name if name and name.startswith(GROUP_PREFIX) else item.nodeid, []).append(item.nodeid)
    out: list[list[str]] = [[] for _ in range(max(1, min(runners, len(groups))))]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(out, key=len).extend(group)
    order = {item.nodeid: i for i, item in enumerate(items)}
    return [sorted(share, key=order.__getitem__) for share in out if share]


def forwarded_args(config: pytest.Config) -> list[str]:
    """The mechtests options the user gave, as given, for each runner's session."""
    args = []
    for key in FORWARDED:
        option = BY_KEY[key]
        value = config.getoption(option.dest, None)
        if value is None or value is False:
            continue
        args.append(option.flag if value is True else f"{option.flag}={value}")
    return args


class ClusterRun:
    """The driver's test loop under --mech-ray (registered as a plugin in the driver only)."""

    def __init__(self, config: pytest.Config, state: MechtestsState, cluster: dict[str, Any]) -> None:
        self.config, self.state, self.cluster = config, state, cluster

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted(f"{session.testsfailed} error(s) during collection")
        if session.config.option.collectonly or not session.items:
            return True
        ray = ray_module()
        by_id = {item.nodeid: item for item in session.items}
        root = Path(self.config.rootpath)
        runner = ray.remote(Runner).options(max_restarts=RESTARTS, max_task_retries=RESTARTS, num_cpus=1,
                                            num_gpus=1 if self.cluster["gpus"] else 0, memory=self.cluster["memory_bytes"])
        work = shares(session.items, self.cluster["nodes"])
        actors = [runner.remote() for _ in work]
        # A Ray worker has imported anyio before pytest starts in it; anyio's pytest plugin would then have pytest
        # rewrite anyio's lazily imported submodules, which fails (TypeError in anyio.abc, anyio 4.16), so it stays off.
        args = forwarded_args(self.config) + ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:anyio", "-q"]
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}  # the cache folder, the memory budget
        calls = {actors[i].run.remote(str(self.config.invocation_params.dir), [str(root / n) for n in share], args, env): share
                 for i, share in enumerate(work)}
        pending = list(calls)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                answer = ray.get(done[0])
            except ray.exceptions.RayError as err:  # the runner died more often than Ray restarts it
                self._lost(calls[done[0]], by_id, f"its Ray runner failed {RESTARTS + 1} times: {str(err).splitlines()[0]}")
                continue
            if answer["restarted"]:
                self.cluster["retries"].append({"tests": len(calls[done[0]]), "node": answer["node"]})
            seen = self._replay(answer["reports"], by_id)
            unreported = [nodeid for nodeid in calls[done[0]] if nodeid not in seen]  # e.g. its session stopped at a usage error
            self._lost(unreported, by_id, f"its runner's pytest session ended with exit code {answer['exit']} without running it")
            if session.shouldfail or session.shouldstop:
                break
        for actor in actors:
            ray.kill(actor)
        return True

    def _replay(self, reports: list[dict[str, Any]], by_id: dict[str, pytest.Item]) -> set[str]:
        """Each runner report through this session's hooks, as xdist's controller does; returns the
        node ids reported."""
        hook, seen = self.config.hook, set()
        for data in reports:
            report = hook.pytest_report_from_serializable(config=self.config, data=data)
            if report is None or report.nodeid not in by_id:
                continue
            seen.add(report.nodeid)
            item = by_id[report.nodeid]
            if report.when == "setup":
                hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            hook.pytest_runtest_logreport(report=report)
            if report.when == "teardown":
                hook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return seen

    def _lost(self, nodeids: list[str], by_id: dict[str, pytest.Item], why: str) -> None:
        """A failed report for each test of a share that never came back: an error, never a verdict."""
        hook = self.config.hook
        for nodeid in nodeids:
            item = by_id[nodeid]
            hook.pytest_runtest_logstart(nodeid=nodeid, location=item.location)
            hook.pytest_runtest_logreport(report=pytest.TestReport(nodeid, item.location, {}, "failed",
                                                                   f"mechtests: {nodeid} did not run: {why}", "call"))
            hook.pytest_runtest_logfinish(nodeid=nodeid, location=item.location)

    def pytest_sessionfinish(self) -> None:
        self.state.cluster = self.cluster
        ray = importlib.import_module("ray")
        if ray.is_initialized():
            ray.shutdown()


class Runner:
    """A Ray actor that runs pytest sessions of the driver's tests on its node (see the module doc)."""

    def run(self, folder: str, nodeids: list[str], args: list[str], env: dict[str, str]) -> dict[str, Any]:
        ray = importlib.import_module("ray")
        context = ray.get_runtime_context()
        reports: list[dict[str, Any]] = []
        os.chdir(folder)
        os.environ.update(env)
        with tempfile.TemporaryDirectory(prefix="mechtests-runner-") as out:  # the driver writes the run's reports
            code = pytest.main([*nodeids, *args, f"--mech-report={out}"], plugins=[_Recorder(reports)])
        return {"reports": reports, "restarted": context.was_current_actor_reconstructed, "node": context.get_node_id(),
                "exit": int(code)}


class _Recorder:
    """Keeps every test report of a runner's session, serialised as xdist serialises them."""

    def __init__(self, reports: list[dict[str, Any]]) -> None:
        self.reports = reports
        self.hook: Any = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.hook, self.config = config.hook, config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.append(self.hook.pytest_report_to_serializable(config=self.config, report=report))
