"""The plugin's per-session state: resolved settings, the pair, collected cases, results."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mechtests.run.pairs import PairPaths
from mechtests.plugin.collect import Collector
from mechtests.plugin.seeds import single_seed

STATE_KEY = pytest.StashKey["MechtestsState"]()
CASE_KEY = pytest.StashKey[dict]()


@dataclass
class MechtestsState:
    settings: dict[str, Any]
    pair: PairPaths
    rootdir: Path
    invocation_dir: Path
    report_dir: Path
    baseline: Path | None
    save_baseline: Path | None
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

    def rerun(self, nodeid: str) -> str:
        """The command that reruns exactly one case with its seed and this run's models."""
        nodeid, seed = single_seed(nodeid, self.settings["seed"])
        parts = ["pytest", nodeid, "--mech-seed", str(seed)]
        # --flag=value: pytest takes a separate path argument into account when it picks the rootdir.
        if self.settings["pair_from_cli"]:
            parts.append(f"--pair={self.settings['pair']}")
        for role in ("arm", "mdm"):
            if self.settings[f"{role}_from_cli"]:
                parts.append(f"--{role}={self.pair.location(role)}")
        if self.settings.get("strict_from_cli"):
            parts.append("--mech-strict")
        for key in ("device", "dtype", "max-memory"):
            if self.settings[f"{key}_from_cli"]:
                parts.append(f"--mech-{key}={self.settings[key]}")
        command = shlex.join(parts)
        if self.invocation_dir != self.rootdir:
            command = f"cd {shlex.quote(str(self.rootdir))} && {command}"
        return command


def state_of(config: pytest.Config) -> MechtestsState:
    return config.stash[STATE_KEY]
