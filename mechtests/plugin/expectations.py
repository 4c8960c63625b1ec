"""The run's expectations in the plugin: chosen once per process at configure time (so that a
bad file or verdict stops the run before any test, exit 4), looked up by every case, stated in
results.json, and written back as a file by --mech-save-expectations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mechtests.claims.expectations import Expectations, choose, dumps
from mechtests.claims.outcomes import NOT_SELECTED, VERDICTS
from mechtests.errors import MechtestsError
from mechtests.reports.schema import atomic_write
from mechtests.run.settings import RunSettings

EXPECTATIONS_KEY = pytest.StashKey[Expectations]()


def configure(config: pytest.Config, settings: RunSettings) -> None:
    """Choose the run's expectations (mechtests.claims.expectations.choose); a MechtestsError
    for a file that is missing or holds a bad entry."""
    pair = settings.pair
    config.stash[EXPECTATIONS_KEY] = choose(settings["expect"], settings.paths.get("expect"), settings.label("expect"),
                                            pair.name, pair.expect, pair.expect_file)


def expectations_of(config: pytest.Config) -> Expectations:
    return config.stash[EXPECTATIONS_KEY]


def stated(expectations: Expectations, hypotheses: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json's run "expectations": the source, and the entries no case of this run took
    (a misspelt id, or a hypothesis outside the files collected)."""
    cases = [(hyp["key"], hyp["id"], model) for hyp in hypotheses for model in hyp["results"]]
    return {**expectations.as_json(), "unmatched": expectations.unmatched(cases)}


def save(path: Path, results: dict[str, Any]) -> str:
    """Write this run's verdicts (holds, fails, inconclusive) per hypothesis key and model to
    `path`, in the format a pair table's `expect` and --mech-expect read; results without a
    verdict (error, not applicable; not the deselected, which did not run) are listed in the
    file's header. Returns what was done, for the terminal."""
    run = results["run"]
    if run["incomplete"]:
        return f"not saving expectations {path}: this run is incomplete"
    verdicts: dict[str, dict[str, str]] = {}
    unjudged = []
    for hyp in results["hypotheses"]:
        for model, res in hyp["results"].items():
            if res["outcome"] in VERDICTS:
                verdicts.setdefault(hyp["key"], {})[model] = res["outcome"]
            elif res["outcome"] != NOT_SELECTED:
                unjudged.append(f"{hyp['key']} [{model}]: {res['outcome']}")
    seeds = f"seeds {run['seeds']}" if run.get("seeds") else f"seed {run['seed']}"
    header = [f"mechtests expectations: the verdicts of a run on pair {run['pair']} ({seeds}, budget "
              f"{(run.get('budget') or {}).get('name')}), written by --mech-save-expectations.",
              "Read by a pair table's expect = \"FILE\" or --mech-expect=FILE; a hypothesis left out has no expectation.",
              *(["No verdict, so no expectation:"] + [f"  {line}" for line in unjudged] if unjudged else [])]
    try:
        atomic_write(path, dumps(verdicts, header))
    except MechtestsError as err:
        return f"could not write expectations: {err}"
    selected = " (this selection's)" if run["selection"]["selected"] else ""
    return f"expectations saved: {path}: {sum(map(len, verdicts.values()))} verdicts{selected}"
