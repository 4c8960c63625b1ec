"""Which two checkpoints a run is about: a named pair from pyproject.toml, or --arm / --mdm.

pyproject.toml declares pairs under `[tool.mechtests.pairs.NAME]` with `arm` and `mdm` paths
relative to the file's folder, and the default pair as `[tool.mechtests] pair = NAME`:

    [tool.mechtests]
    pair = "tiny"
    [tool.mechtests.pairs.tiny]
    arm = "fixtures/tiny-pair/arm"
    mdm = "fixtures/tiny-pair/mdm"

`--arm PATH` / `--mdm PATH` override one or both models of that pair (relative to the
directory pytest was started from). Paths are resolved here, never checked for existence:
a missing checkpoint is reported by the test that loads it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError

ROLES: tuple[str, str] = ("arm", "mdm")


@dataclass(frozen=True)
class PairPaths:
    """The two checkpoints of a run; a path is None when neither the pair nor an option names it."""

    name: str | None
    arm: str | None
    mdm: str | None

    def path(self, role: str) -> str:
        """The path of `role` ("arm" or "mdm"), or a MechtestsError that says how to set it."""
        value = getattr(self, role)
        if value is None:
            where = f"pair {self.name!r} has no {role}" if self.name else "no model pair is configured"
            raise MechtestsError(
                f"{where}",
                f"pass --{role} PATH, --pair NAME, or declare [tool.mechtests.pairs.NAME] "
                "with arm and mdm in pyproject.toml",
            )
        return value


def read_settings(rootdir: str | Path) -> dict[str, Any]:
    """The `[tool.mechtests]` table of rootdir/pyproject.toml ({} when there is none)."""
    pyproject = Path(rootdir) / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        with pyproject.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise MechtestsError(f"cannot read {pyproject}: {err}", "fix the TOML syntax") from None
    table = data.get("tool", {}).get("mechtests", {})
    if not isinstance(table, dict):
        raise MechtestsError(f"[tool.mechtests] in {pyproject} is not a table", "make it a table of settings")
    return table


def declared_pairs(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pairs = settings.get("pairs", {})
    if not isinstance(pairs, dict) or not all(isinstance(v, dict) for v in pairs.values()):
        raise MechtestsError(
            "[tool.mechtests.pairs] must hold one table per pair",
            'write [tool.mechtests.pairs.NAME] with arm = "PATH" and mdm = "PATH"',
        )
    return pairs


def resolve_pair(
    settings: dict[str, Any],
    rootdir: str | Path,
    name: str | None = None,
    arm: str | None = None,
    mdm: str | None = None,
    invocation_dir: str | Path | None = None,
) -> PairPaths:
    """Resolve a pair name and --arm / --mdm overrides to two absolute paths.

    name: the pair to use (default: settings["pair"]); arm, mdm: overrides, relative to
    `invocation_dir` (default: the current directory). Raises MechtestsError for an unknown
    pair or a pair table without an arm or mdm path.
    """
    rootdir = Path(rootdir)
    base = Path(invocation_dir) if invocation_dir is not None else Path.cwd()
    pairs = declared_pairs(settings)
    name = name if name is not None else settings.get("pair")
    paths: dict[str, str | None] = {"arm": None, "mdm": None}
    if name is not None:
        if name not in pairs:
            known = ", ".join(sorted(pairs)) or "none declared"
            raise MechtestsError(
                f"unknown pair {name!r} (known: {known})",
                f"declare [tool.mechtests.pairs.{name}] with arm and mdm in pyproject.toml, or pass --arm and --mdm",
            )
        table = pairs[name]
        unknown = set(table) - set(ROLES)
        if unknown or any(not isinstance(table.get(r), str) for r in ROLES):
            raise MechtestsError(
                f"[tool.mechtests.pairs.{name}] must have exactly the string keys arm and mdm "
                f"(found {sorted(table)})",
                'write arm = "PATH" and mdm = "PATH"',
            )
        paths = {r: str((rootdir / table[r]).resolve()) for r in ROLES}
    for role, override in (("arm", arm), ("mdm", mdm)):
        if override is not None:
            paths[role] = str((base / override).resolve())
    return PairPaths(name=name, arm=paths["arm"], mdm=paths["mdm"])
