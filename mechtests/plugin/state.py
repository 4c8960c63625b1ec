"""The plugin's per-session state: the run's settings, collected cases, results."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mechtests.plugin.collect import Collector
from mechtests.plugin.seeds import single_seed
from mechtests.run.pairs import ROLES, PairPaths
from mechtests.run.settings import RunSettings

STATE_KEY = pytest.StashKey["MechtestsState"]()
CASE_KEY = pytest.StashKey[dict]()


@dataclass
class MechtestsState:
    settings: RunSettings
    rootdir: Path
    invocation_dir: Path
    is_worker: bool
    declared: bool = False  # pyproject.toml declares [tool.mechtests]
    baseline_data: dict[str, Any] | None = None  # --mech-baseline, read and checked at configure
    collected: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> case (this process)
    deselected: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> case, -k/-m/--deselect
    collector: Collector = field(default_factory=Collector)
    results: dict[str, Any] | None = None
    baseline_lines: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    started: float = 0.0
    cluster: dict[str, Any] | None = None  # --mech-ray: the cluster the tests ran on, and any retries (mechtests.plugin.cluster)

    @property
    def pair(self) -> PairPaths:
        return self.settings.pair

    @property
    def report_dir(self) -> Path:
        return self.settings.paths["report"]  # type: ignore[return-value] - the option has a default

    @property
    def baseline(self) -> Path | None:
        return self.settings.paths["baseline"]

    @property
    def save_baseline(self) -> Path | None:
        return self.settings.paths["save-baseline"]

    def rerun(self, nodeid: str) -> str:
        """The command that reruns exactly one case with its seed and this run's models, each
        option under the flag it was given with."""
        nodeid, seed = single_seed(nodeid, self.settings["seed"])
        parts = ["pytest", nodeid, "--mech-seed", str(seed)]
        # --flag=value: pytest takes a separate path argument into account when it picks the rootdir.
        flag = self.settings.flag
        if flag("pair"):
            parts.append(f"{flag('pair')}={self.settings['pair']}")
        parts += [f"{flag(role)}={self.pair.location(role)}" for role in ROLES if flag(role)]
        if flag("strict"):
            parts.append(flag("strict"))
        parts += [f"{flag(key)}={self.settings[key]}" for key in ("device", "dtype", "max-memory") if flag(key)]
        command = shlex.join(parts)
        if self.invocation_dir != self.rootdir:
            command = f"cd {shlex.quote(str(self.rootdir))} && {command}"
        return command


def state_of(config: pytest.Config) -> MechtestsState:
    return config.stash[STATE_KEY]
