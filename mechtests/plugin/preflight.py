"""Checks before any test runs, so that a bad option fails at configure time as pytest's usage
error (exit 4) instead of after every test ran: the report folder can be written and is not a
file, the baseline is readable and of a known schema and version, --mech-save-baseline does
not overwrite a report file, and the device exists.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.reports import gate
from mechtests.reports.schema import REPORT_FILES
from mechtests.run.settings import RunSettings


def check(settings: RunSettings) -> dict[str, Any] | None:
    """Run every check; returns the baseline, read (or None without --mech-baseline)."""
    name = settings.label
    report_dir, baseline, save_baseline = (settings.paths[key] for key in ("report", "baseline", "save-baseline"))
    writable_folder(report_dir, name("report"))
    for file in REPORT_FILES:
        if (report_dir / file).is_dir():
            raise MechtestsError(f"{name('report')}: {report_dir / file} is a folder, where the report writes a file",
                                 "remove it, or pass another --mech-report DIR")
    data = None
    if baseline is not None:
        if not baseline.is_file():
            raise MechtestsError(f"{name('baseline')}: {baseline} does not exist",
                                 f"create it with --mech-save-baseline {settings['baseline']} on a known-good run")
        try:
            data = gate.load_baseline(str(baseline))
        except MechtestsError as err:
            raise MechtestsError(f"{name('baseline')}: {err.problem}", err.fix) from None
    if save_baseline is not None:
        if save_baseline in {report_dir / file for file in REPORT_FILES}:
            raise MechtestsError(f"{name('save-baseline')}: {save_baseline} is one of the report's own files",
                                 "save the baseline under another name, e.g. reports/baseline.json")
        if save_baseline.is_dir():
            raise MechtestsError(f"{name('save-baseline')}: {save_baseline} is a folder", "name a file, e.g. reports/baseline.json")
        writable_folder(save_baseline.parent, name("save-baseline"))
    device(settings["device"], name("device"))
    return data


def writable_folder(folder: Path, option: str) -> None:
    """`folder` is, or can become, a folder this process can write into (probed, not guessed:
    permissions say nothing to root or on a read-only file system)."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise MechtestsError(f"{option}: {existing} is a file, so {folder} cannot be a folder",
                             "pass a folder path, such as reports/")
    try:
        probe = tempfile.mkdtemp(prefix=".mechtests-probe-", dir=existing)
    except OSError as err:
        raise MechtestsError(f"{option}: cannot write into {existing} ({err.strerror or err})",
                             "pass a folder you can write to") from None
    shutil.rmtree(probe, ignore_errors=True)


def device(choice: str | None, option: str) -> None:
    """The device exists on this machine (auto and cpu always do): mechtests.models.placement decides."""
    if choice in (None, "auto", "cpu"):
        return
    from mechtests.models import placement  # here, not at the top: only a run that names a device pays for importing torch

    try:
        placement.resolve_device(choice)
    except MechtestsError as err:
        raise MechtestsError(f"{option}: {err.problem}", err.fix) from None
