"""results.json: the one source of truth of a run, and how it is written and read.

Layout (schema_version 1):

    {
      "schema": "mechtests-results", "schema_version": 1,
      "run": {
        "seed": 0, "pair": "tiny", "device": "cpu", "dtype": "float32",
        "models": {"arm": {"path": ..., "weights_sha256": ...}, "mdm": {...}},
        "versions": {"python": ..., "torch": ..., "transformers": ..., "nnsight": ..., ...},
        "git": {"commit": ... or null, "dirty": bool or null},
        "incomplete": false,
        "started": ISO time, "finished": ISO time, "duration_s": float,   # timings
        "invocation": {"args": [...], "workers": int}                     # how it was run
      },
      "totals": {"holds": n, "fails": n, "error": n, "skipped": n, "matched": n, "mismatched": n},
      "hypotheses": [
        {"key": "overlap[ioi]", "id": "overlap", "variant": "ioi", "claim": ..., "source": ...,
         "reason": ..., "file": ...,
         "results": {"arm": {"outcome": "holds"|"fails"|"error"|"skipped", "expected": "holds"|"fails",
                             "matched": bool or null, "message": str or null,
                             "evidence": [{"name", "value", "ci", "threshold", "extra"}],
                             "nodeid": ..., "rerun": "pytest ...", "duration_s": float},
                     "mdm": {...}}}
      ],
      "baseline": null or {"file": ..., "changed": [...], "drift": [...], "missing": [...], "new": [...]}
    }

Every renderer (HTML, Markdown, terminal) and the baseline gate read this dict, nothing else.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError

SCHEMA = "mechtests-results"
SCHEMA_VERSION = 1
OUTCOMES = ("holds", "fails", "error", "skipped")
# What differs between two runs of the same code on the same models: when and how they ran.
VOLATILE_RUN_KEYS = ("started", "finished", "duration_s", "invocation")
VOLATILE_RESULT_KEYS = ("duration_s",)


def totals(hypotheses: list[dict[str, Any]]) -> dict[str, int]:
    counts = {k: 0 for k in (*OUTCOMES, "matched", "mismatched")}
    for hyp in hypotheses:
        for res in hyp["results"].values():
            counts[res["outcome"]] += 1
            if res["matched"] is True:
                counts["matched"] += 1
            elif res["matched"] is False:
                counts["mismatched"] += 1
    return counts


def stable_view(results: dict[str, Any]) -> dict[str, Any]:
    """A copy without timings and invocation: equal for equal verdicts and evidence."""
    out = json.loads(json.dumps(results))
    for key in VOLATILE_RUN_KEYS:
        out["run"].pop(key, None)
    for hyp in out["hypotheses"]:
        for res in hyp["results"].values():
            for key in VOLATILE_RESULT_KEYS:
                res.pop(key, None)
    return out


def atomic_write(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"


def load_json(path: str | Path, what: str = "results") -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MechtestsError(f"{what} file {path} not found", "check the path, or create it with a mechtests run") from None
    except (OSError, json.JSONDecodeError) as err:
        raise MechtestsError(f"cannot read {what} file {path}: {err}", "pass a file written by mechtests") from None
    if not isinstance(data, dict):
        raise MechtestsError(f"{path} is not a mechtests {what} file", "pass a file written by mechtests")
    return data


def load_results(path: str | Path) -> dict[str, Any]:
    data = load_json(path)
    if data.get("schema") != SCHEMA:
        raise MechtestsError(f"{path} is not a mechtests results.json (schema {data.get('schema')!r})",
                             "pass reports/results.json from a mechtests run")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise MechtestsError(f"{path} has schema_version {data.get('schema_version')!r}, this mechtests reads "
                             f"{SCHEMA_VERSION}", "re-run the suite with this version to regenerate it")
    return data
