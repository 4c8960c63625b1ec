"""results.json: the one source of truth of a run, and how it is written and read.

Layout (schema_version 2):

    {
      "schema": "mechtests-results", "schema_version": 2,
      "run": {
        "seed": 0, "seeds": null or [0, 1, 2, 3] (--mech-seeds), "pair": "tiny", "device": "auto", "dtype": "auto",
        "max_memory": "auto", "strict": false,                            # as chosen (--mech-device, ...)
        "models": {"arm": {"path": ..., "weights_sha256": ..., "device": "cpu", "dtype": "float32"}, "mdm": {...}},
        "versions": {"python": ..., "torch": ..., "transformers": ..., "nnsight": ..., ...},
        "git": {"commit": ... or null, "dirty": bool or null},
        "incomplete": false,
        "selection": {"selected": bool, "not_selected": n},               # -k / node ids
        "started": ISO time, "finished": ISO time, "duration_s": float,   # timings
        "invocation": {"args": [...], "workers": int},                    # how it was run
        "expectations": {"source": "hypotheses"|"pair"|"file"|"none", "file": ... or null,
                         "pair": ... or null, "unmatched": [...]}         # mechtests.claims.expectations
      },
      "totals": {"holds": n, "fails": n, "inconclusive": n, "error": n, "not_applicable": n,
                 "not_selected": n, "matched": n, "mismatched": n, "warnings": n},
      "hypotheses": [
        {"key": "overlap[ioi]", "id": "overlap", "variant": "ioi", "claim": ..., "source": ...,
         "reason": ..., "file": ...,
         "results": {"arm": {"outcome": one of mechtests.claims.outcomes.OUTCOMES,
                             "expected": "holds"|"fails"|"inconclusive" or null (no expectation),
                             "grade": one of mechtests.claims.outcomes.GRADES,
                             "matched": bool or null (null: not judged),
                             "message": str or null,
                             "evidence": [{"name", "value", "ci", "threshold", "extra", "flags"?}],
                             "nodeid": ..., "rerun": "pytest ...", "duration_s": float,
                             "seeds": null, "agreement": null},
                     "mdm": {...}}}
      ],
      "baseline": null or {"file": ..., "changed": [...], "unsettled": [...], "drift": [...],
                           "missing": [...], "not_compared": [...], "new": [...], "notes": [...]},
      "problems": [...]   # what went wrong writing the report (a renderer that failed)
    }

"seeds" and "agreement" are filled in multi-seed runs (--mech-seeds, issue #12; run "seeds" lists
them): "seeds" is a list of {"seed", "outcome", "message", "evidence"}, one per evaluation seed,
the result's own "outcome" their replicated verdict (mechtests.plugin.seeds.combine), and
"agreement" true when every seed gave the same verdict (false: seed-dependent). Single-seed runs,
and hypotheses that take no seed, write null for both; readers must accept either.

Version 1 files (outcomes holds, fails, error, skipped; no grade, seeds or agreement) are
read through `upgrade`, so results and baselines saved before version 2 keep working.
Every renderer (HTML, Markdown, terminal) and the baseline gate read this dict, nothing else.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.claims.evidence import usable
from mechtests.claims.outcomes import OUTCOMES, WARNING, from_v1, grade

SCHEMA = "mechtests-results"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
REPORT_FILES = ("results.json", "report.html", "summary.md")


def totals(hypotheses: list[dict[str, Any]]) -> dict[str, int]:
    counts = {k: 0 for k in (*OUTCOMES, "matched", "mismatched", "warnings")}
    for hyp in hypotheses:
        for res in hyp["results"].values():
            counts[res["outcome"]] += 1
            if res["matched"] is True:
                counts["matched"] += 1
            elif res["matched"] is False:
                counts["mismatched"] += 1
            if res.get("grade") == WARNING:
                counts["warnings"] += 1
    return counts


def json_safe(value: Any, flags: list[str], where: str = "") -> Any:
    """A copy that json.dumps(allow_nan=False) takes: a float JSON or the charts cannot hold
    (NaN, infinite, huge) becomes None, any other object its text, each named in `flags`.
    record() already does this for evidence; this catches whatever else reaches a report."""
    if isinstance(value, float) and not usable(value):
        flags.append(f"{where or 'value'}: {value!r} replaced by null")
        return None
    if isinstance(value, dict):
        return {k: json_safe(v, flags, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, flags, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (str, int, float)):
        return value
    flags.append(f"{where or 'value'}: a {type(value).__name__} written as text")
    return str(value)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_set(folder: str | Path, files: dict[str, str]) -> None:
    """Replace several files as one set: every file is written to a temporary name first, and
    only when all are written are they moved into place; a failed write leaves the previous set
    whole. Files get the permissions the user's umask gives (mkstemp's are 0600)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mode = 0o666 & ~_umask()
    written: dict[Path, str] = {}
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            written[folder / name] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
        for path, tmp in written.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in written.values():
            Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never half of one;
    a path that cannot be written is a one-line MechtestsError (check_writable)."""
    path = check_writable(path)
    try:
        write_set(path.parent, {path.name: text})
    except OSError as err:
        raise MechtestsError(f"cannot write {path}: {err.strerror or err}", "pass a file path in a folder you can write to") from None


def check_writable(path: str | Path) -> Path:
    """`path` if a file can be written there (a folder that exists and is writable, or can be made
    under one that is; not a folder itself), else the one-line MechtestsError, before any work."""
    path = Path(path)
    if path.is_dir():
        raise MechtestsError(f"{path} is a folder", f"pass a file path, e.g. {path / 'report.html'}")
    folder = next((p for p in path.parents if p.exists()), Path.cwd())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise MechtestsError(f"cannot write {path}: {folder} is not a folder you can write to",
                             "pass a file path in a folder you can write to")
    return path


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"


def load_json(path: str | Path, what: str = "results") -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MechtestsError(f"{what} file {path} not found", "check the path, or create it with a mechtests run") from None
    except IsADirectoryError:
        raise MechtestsError(f"{what} file {path} is a folder", "pass the file itself, e.g. reports/results.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MechtestsError(f"cannot read {what} file {path}: {str(err).splitlines()[0]}",
                             "pass a file written by mechtests") from None
    if not isinstance(data, dict):
        raise MechtestsError(f"{path} is not a mechtests {what} file (its JSON is not an object)", "pass a file written by mechtests")
    return data


def check_version(data: dict[str, Any], path: str | Path, readable: tuple[int, ...], what: str) -> int:
    version = data.get("schema_version")
    if isinstance(version, bool) or version not in readable:
        raise MechtestsError(f"{path} has schema_version {version!r}; this mechtests reads {what} versions "
                             f"{', '.join(map(str, readable))}",
                             "re-run the suite with this version of mechtests to regenerate it, or upgrade mechtests")
    return version


def load_results(path: str | Path) -> dict[str, Any]:
    """A results.json of any readable version, upgraded to the current layout."""
    data = load_json(path)
    if data.get("schema") != SCHEMA:
        raise MechtestsError(f"{path} is not a mechtests results.json (schema {data.get('schema')!r})",
                             "pass reports/results.json from a mechtests run")
    check_version(data, path, READABLE_VERSIONS, "results")
    check_shape(data, path)
    try:
        return upgrade(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise MechtestsError(f"{path} is a damaged results.json ({type(err).__name__}: {err})",
                             "re-run the suite to regenerate it") from None


def check_shape(data: dict[str, Any], path: str | Path) -> None:
    """What the pages read: a run table, and hypotheses whose evidence values, intervals and bars
    are numbers (nested lists of them for profiles and maps) or null; else the one-line
    MechtestsError naming the first entry that is not."""
    fix = "re-run the suite to regenerate it, or restore the file mechtests wrote"
    for key, kind in (("run", dict), ("hypotheses", list)):
        if not isinstance(data.get(key), kind):
            raise MechtestsError(f"{path} is a damaged results.json: {key!r} is missing or not a{' list' if kind is list else 'n object'}", fix)
    for hyp in data["hypotheses"]:
        results = hyp.get("results") if isinstance(hyp, dict) else None
        if not isinstance(results, dict) or not all(isinstance(r, dict) for r in results.values()):
            raise MechtestsError(f"{path} is a damaged results.json: hypothesis {hyp!r:.60} has no results table", fix)
        for model, res in results.items():
            for ev in res.get("evidence") or []:
                where = f"{path} is a damaged results.json: {hyp.get('key')} [{model}] evidence"
                if not isinstance(ev, dict):
                    raise MechtestsError(f"{where} entry {ev!r:.60} is not an object", fix)
                bad = next((f for f in ("value", "ci", "threshold") if not _numeric(ev.get(f))), None)
                if bad:
                    raise MechtestsError(f"{where} {ev.get('name')!r:.60} has {bad} {ev[bad]!r:.40}, not a number", fix)


def _numeric(value: Any, depth: int = 0) -> bool:
    """A number, null, or a list of them nested at most two levels (what record() writes)."""
    if isinstance(value, list):
        return depth < 2 and all(_numeric(v, depth + 1) for v in value)
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A results dict of any readable version in the current layout (version 1: outcomes
    renamed by mechtests.claims.outcomes.from_v1, grades computed, seed fields null)."""
    if data.get("schema_version") == SCHEMA_VERSION:
        return data
    out = json.loads(json.dumps(data))
    out["schema_version"] = SCHEMA_VERSION
    run = out["run"]
    run.setdefault("strict", False)
    run.setdefault("selection", {"selected": False, "not_selected": 0})
    for hyp in out["hypotheses"]:
        for res in hyp["results"].values():
            res["outcome"] = from_v1(res["outcome"])
            res["grade"] = grade(res["outcome"], res["expected"])
            res.setdefault("seeds", None)
            res.setdefault("agreement", None)
    out["totals"] = totals(out["hypotheses"])
    return out

