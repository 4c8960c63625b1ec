"""xdist scheduling: tests that share a model go to the same worker (--dist loadgroup).

The plugin marks each test with `xdist_group("mechtests-arm" | "mechtests-mdm" |
"mechtests-pair")` and makes loadgroup the default under -n, so each model loads on few
workers. Grouping saves work only: results are keyed by hypothesis and model, never by node
id, so they are the same under any grouping.

The pair group holds most of the work (both models' attributions on every task), so one
worker ends up doing it alone. With --mech-split-pair each pair-level hypothesis gets a group
of its own ("mechtests-pair-<id>"), xdist hands them to workers as they free up, and the disk
cache's per-entry lock keeps two workers from computing one attribution twice. Under two or
more workers the per-model hypotheses get a group each too ("mechtests-arm-<id>"), and each
hypothesis's parts (mechtests.plugin.parts) go first, a group each, so the measurements that
several hypotheses wait on are spread over the workers. Each worker that takes a pair group
loads both models, so `auto` splits only small pairs.

xdist 3.8's loadgroup scheduler puts a crashed worker's whole work unit back in the queue,
the test that crashed it included, so that test kills worker after worker
(pytest-dev/pytest-xdist#1371), and it requeues the crashed worker's completed units too,
which can leave the run waiting on empty units (pytest-dev/pytest-xdist#1378). The scheduler
here counts the crashing test as done (xdist reports it as a crash) and requeues only the
unfinished units. Remove it once an xdist release carries both fixes (#1371, and #1381 or
its successor for #1378).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling

from mechtests.plugin.opt_in import asked_for
from mechtests.run.pairs import ROLES, PairPaths

SPLIT_BELOW = 2**30  # bytes of weights (both checkpoints) under which split-pair=auto splits
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
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
            and asked_for(config)):
        opt.dist = "loadgroup"
    if hasattr(config, "workerinput") and config.workerinput.get(LOADGROUP_KEY):  # type: ignore[attr-defined]
        opt.loadgroup = True  # a worker re-parses the command line, which may not say --dist loadgroup
    return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker whether tests are grouped (it suffixes node ids then)."""
    node.workerinput[LOADGROUP_KEY] = node.config.getoption("dist") == "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup" or not asked_for(config):
        return None
    return CrashSafeLoadGroupScheduling(config, log)


def split_pair(setting: str, pair: PairPaths) -> bool:
    """Whether pair-level hypotheses get a group each: yes, no, or auto (both checkpoints' weight
    files under SPLIT_BELOW in total, so that every worker can hold both models)."""
    if setting != "auto":
        return setting == "yes"
    total = 0
    for role in ROLES:
        folder = getattr(pair, role)
        if folder is None or not Path(folder).is_dir():
            return False  # loading will say what is wrong; do not guess a size
        total += weights_bytes(Path(folder))
    return total < SPLIT_BELOW


def weights_bytes(folder: Path) -> int:
    """The size of a checkpoint folder's weight files (or of one weights file), in bytes."""
    files = [folder] if folder.is_file() else [f for f in folder.iterdir() if f.is_file()]
    return sum(f.stat().st_size for f in files if f.suffix in WEIGHT_SUFFIXES)


class CrashSafeLoadGroupScheduling(LoadGroupScheduling):
    def remove_node(self, node: Any) -> str | None:
        workload = self.assigned_work.pop(node)
        if not self._pending_of(workload):
            return None
        crashitem = next(
            nodeid for unit in workload.values() for nodeid, completed in unit.items() if not completed
        )
        for unit in workload.values():
            if crashitem in unit:
                unit[crashitem] = True
        self.workqueue.update({scope: unit for scope, unit in workload.items() if not all(unit.values())})
        for other in self.assigned_work:
            self._reschedule(other)
        return crashitem
