"""A run's expectations: where they come from, the one lookup, and the file format that
`--mech-save-expectations` writes and a pair table's `expect` or `--mech-expect=FILE` reads.

Four sources (`--mech-expect`, default auto):

- hypotheses: each hypothesis's own `expect=` (the bundled pair's, in suites/); a model it
  does not name is expected to hold;
- pair: the pair table's `expect`, a file or an inline table (auto picks it when the pair
  names one);
- file: the file `--mech-expect=FILE` names;
- none: discovery; no result has an expectation.

Under pair and file, a result the table does not name has no expectation either: the table
was measured on those models and says nothing about a hypothesis it leaves out, so that
result is reported without a grade (mechtests.claims.outcomes.REPORTED) rather than judged
against the bundled pair's `expect=`.

The format is TOML, one entry per hypothesis key (its id, or the id with its variant as in
`overlap[ioi]`, which wins over the bare id), each a table of models and verdicts:

    "heads.induction_heads_present" = {arm = "holds", mdm = "fails"}
    "depth.pair_level" = {pair = "inconclusive"}

Keys are quoted: a bare dotted key would be a nested table in TOML.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from mechtests.claims.outcomes import HOLDS, MODEL_KEYS, VERDICTS
from mechtests.errors import MechtestsError

if TYPE_CHECKING:  # not at run time: hypotheses imports pytest, which a command reading settings need not load
    from mechtests.claims.hypotheses import Hypothesis

AUTO, NONE = "auto", "none"  # --mech-expect's keywords; anything else is a file
HYPOTHESES, PAIR, FILE = "hypotheses", "pair", "file"
Table = Mapping[str, Mapping[str, str]]  # hypothesis key -> model -> verdict
FORMAT_FIX = 'write one line per hypothesis, e.g. "heads.induction_heads_present" = {arm = "holds", mdm = "fails"}'


def check_table(data: Any, where: str) -> dict[str, dict[str, str]]:
    """An expectations table, checked: hypothesis keys to {model: verdict}; else a one-line
    MechtestsError naming the entry and what to write."""
    if not isinstance(data, dict):
        raise MechtestsError(f"{where} must be a table of hypothesis ids, got {data!r:.60}", FORMAT_FIX)
    table: dict[str, dict[str, str]] = {}
    for key, models in data.items():
        if not key or any(c.isspace() for c in key):
            raise MechtestsError(f"{where}: {key!r} is not a hypothesis id", FORMAT_FIX)
        if not isinstance(models, dict):
            raise MechtestsError(f"{where} {key!r} = {models!r:.40} is not a table of models", FORMAT_FIX)
        nested = [name for name, value in models.items() if isinstance(value, dict)]
        if nested:
            raise MechtestsError(f"{where} {key!r} holds tables ({', '.join(nested)}): an unquoted dotted id",
                                 f'quote the id: "{key}.{nested[0]}" = {{arm = "holds", mdm = "holds"}}')
        for model, verdict in models.items():
            if model not in MODEL_KEYS:
                raise MechtestsError(f"{where} {key!r} names the model {model!r}", "use arm and mdm, or pair for a pair-level hypothesis")
            if verdict not in VERDICTS:
                raise MechtestsError(f"{where} {key!r} {model} = {verdict!r} is not a verdict", f"write one of {', '.join(VERDICTS)}")
        if "pair" in models and len(models) > 1:
            raise MechtestsError(f"{where} {key!r} mixes pair with per-model keys ({', '.join(sorted(models))})",
                                 "a pair-level hypothesis has only pair = ...; a per-model one arm and mdm")
        table[key] = dict(models)
    return table


def read_file(path: str | Path, where: str) -> dict[str, dict[str, str]]:
    """The expectations in TOML file `path`, checked (`where` says who named it, for errors)."""
    path = Path(path)
    if not path.is_file():
        raise MechtestsError(f"{where}: expectations file {path} does not exist",
                             "write it with --mech-save-expectations FILE on a run whose verdicts you accept")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise MechtestsError(f"{where}: cannot read {path}: {err}", FORMAT_FIX) from None
    return check_table(data, f"{where} ({path})")


def from_pair_table(value: Any, rootdir: Path, where: str) -> tuple[dict[str, dict[str, str]], str | None]:
    """A pair table's `expect`: a file (relative to pyproject.toml's folder) or an inline table;
    returns the entries and the file as written there (None: inline)."""
    if isinstance(value, str):
        return read_file((rootdir / value).resolve(), where), value
    if isinstance(value, dict):
        return check_table(value, where), None
    raise MechtestsError(f"{where} must be a file or a table, got {value!r:.40}",
                         'write expect = "path/to/expectations.toml" or a table of hypothesis ids')


def dumps(verdicts: Table, header: Iterable[str] = ()) -> str:
    """`verdicts` as the TOML that read_file reads back; `header`: comment lines above them."""
    lines = [f"# {line}" for line in header]
    for key in sorted(verdicts):
        models = ", ".join(f"{model} = {json.dumps(verdicts[key][model])}"
                           for model in MODEL_KEYS if model in verdicts[key])
        lines.append(f"{json.dumps(key)} = {{{models}}}")  # a JSON string is a TOML basic string for these keys
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Expectations:
    """The run's expectations and where they came from: source is hypotheses, pair, file or none;
    `file` the table's file (None: inline or no table); `table` the entries (pair and file)."""

    source: str = HYPOTHESES
    file: str | None = None
    table: Table = field(default_factory=dict)
    pair: str | None = None  # the pair whose table it is (source pair)

    def expected(self, hyp: Hypothesis | None, key: str, model: str) -> str | None:
        """The verdict `hyp` (its case `key`) is expected to reach on `model`; None: no expectation."""
        if self.source == NONE:
            return None
        if self.source == HYPOTHESES:
            return hyp.expected(model) if hyp is not None else HOLDS
        hid = hyp.id if hyp is not None else key.partition("[")[0]
        for name in (key, hid):
            if model in self.table.get(name, {}):
                return self.table[name][model]
        return None

    def unmatched(self, cases: Iterable[tuple[str, str, str]]) -> list[str]:
        """The entries (`key [model]`) that no case (key, id, model) of the run takes: a misspelt
        id or model, or a hypothesis outside the files this run collected."""
        taken = {(name, model) for key, hid, model in cases for name in (key, hid)}
        return [f"{key} [{model}]" for key, models in sorted(self.table.items()) for model in models if (key, model) not in taken]

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "file": self.file, "pair": self.pair}

    def fix(self, model: str, outcome: str) -> str:
        """How to make `outcome` on `model` the expectation, for the note under a mismatch."""
        if self.source == HYPOTHESES:
            return f"set expect={{'{model}': '{outcome}'}}"
        where = self.file or f"the [tool.mechtests.pairs.{self.pair}.expect] table"
        return f"set {model} = \"{outcome}\" for it in {where} (or rewrite it with --mech-save-expectations)"


def describe(run_expectations: Mapping[str, Any] | None) -> str:
    """The expectation source as the reports state it, from results.json's run "expectations"
    (absent in runs before it was recorded, which all used the hypotheses' own)."""
    recorded = run_expectations or {}
    source, file = recorded.get("source", HYPOTHESES), recorded.get("file")
    if source == NONE:
        return "none (discovery: verdicts reported, not judged)"
    if source == PAIR:
        return f"pair {recorded.get('pair')}'s " + (file or "table in pyproject.toml")
    if source == FILE:
        return f"{file} (--mech-expect)"
    return "each hypothesis's own expect="


def choose(setting: str, file: Path | None, where: str, pair: str | None, pair_table: Table | None,
           pair_file: str | None) -> Expectations:
    """The run's expectations from --mech-expect (`setting`, set at `where`; `file`: its placed
    path) and the pair table's `expect` (already read: `pair_table`, from `pair_file` or inline)."""
    if setting == NONE:
        return Expectations(NONE)
    if setting != AUTO:
        path = file if file is not None else Path(setting)
        return Expectations(FILE, str(path), read_file(path, f"{where}={setting}"))
    if pair_table is not None:
        return Expectations(PAIR, pair_file, pair_table, pair)
    return Expectations(HYPOTHESES)
