"""results.json version 2: version 1 files are read through `upgrade`, and the layout is the documented one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mechtests.errors import MechtestsError
from mechtests.reports.gate import baseline_from_results, compare, load_baseline
from mechtests.run.parsing import parse_tolerance
from mechtests.reports.schema import SCHEMA_VERSION, load_results, upgrade

DATA = Path(__file__).parent / "data"


def test_a_version_1_results_file_reads_as_version_2() -> None:
    results = load_results(DATA / "fake_results_v1.json")
    assert results["schema_version"] == SCHEMA_VERSION == 2
    only_arm = next(h for h in results["hypotheses"] if h["key"] == "v1.only_arm")["results"]
    assert only_arm["mdm"]["outcome"] == "not_applicable" and only_arm["mdm"]["grade"] == "not_applicable"
    assert only_arm["arm"]["seeds"] is None and only_arm["arm"]["agreement"] is None
    assert results["totals"]["not_applicable"] == 1 and "skipped" not in results["totals"]
    assert results["run"]["strict"] is False


def test_upgrading_twice_changes_nothing() -> None:
    once = upgrade(json.loads((DATA / "fake_results_v1.json").read_text()))
    assert upgrade(once) == once


def test_a_version_1_baseline_and_results_file_agree() -> None:
    saved = load_baseline(str(DATA / "fake_baseline_v1.json"))
    converted = baseline_from_results(load_results(DATA / "fake_results_v1.json"))
    comparison = compare(saved, converted, parse_tolerance("10%"))
    assert comparison["changed"] == [] and comparison["compared"] == 4


def test_an_unknown_version_names_what_is_read(tmp_path) -> None:
    data = json.loads((DATA / "fake_results_v1.json").read_text())
    data["schema_version"] = 3
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(MechtestsError, match="has schema_version 3; this mechtests reads results versions 1, 2"):
        load_results(tmp_path / "r.json")
