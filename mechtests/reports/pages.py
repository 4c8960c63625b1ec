"""report.html and summary.md written from a results.json outside a pytest run.

Used by `mechtests report results.json` (re-render) and `mechtests compare OLD NEW --html OUT`
(the same page, with the comparison at its top). Rendering reads only the dicts it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.reports.baseline_view import read_old
from mechtests.reports.render_html import render_html
from mechtests.reports.render_markdown import render_markdown
from mechtests.reports.schema import SCHEMA, atomic_write, load_json, load_results


def old_results_of(results: dict[str, Any]) -> dict[str, Any] | None:
    """The baseline's results.json named in results["baseline"], when it is one and still readable."""
    comparison = results.get("baseline") or {}
    if not comparison.get("file"):
        return None
    try:
        return read_old(comparison["file"])[1]
    except MechtestsError:
        return None


def write_pages(results: dict[str, Any], out_dir: Path, old: dict[str, Any] | None = None) -> list[Path]:
    """report.html and summary.md into `out_dir`, each replaced atomically; returns their paths."""
    if out_dir.exists() and not out_dir.is_dir():
        raise MechtestsError(f"{out_dir} is a file, not a folder", "pass a folder with --out")
    html_path, md_path = out_dir / "report.html", out_dir / "summary.md"
    atomic_write(html_path, render_html(results, old=old))
    atomic_write(md_path, render_markdown(results, old=old))
    return [html_path, md_path]


def comparison_page(old_path: str, new_path: str, comparison: dict[str, Any]) -> str:
    """report.html of NEW (a results.json) with the comparison against OLD at its top."""
    new = load_json(new_path)
    if new.get("schema") != SCHEMA:
        raise MechtestsError(f"--html needs NEW to be a results.json, and {new_path} is a baseline file",
                             "pass the results.json of the run to check as NEW")
    results = load_results(new_path)
    results["baseline"] = {"file": old_path, **comparison}
    return render_html(results, old=read_old(old_path)[1])
