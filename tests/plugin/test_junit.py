"""--junitxml carries each result's verdict, expectation and key evidence as flat, named properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

SUITE = '''
import mechtests

@mechtests.hypothesis(claim="scores high", expect={"arm": "holds", "mdm": "fails"})
def test_score(subject):
    value = 0.9 if subject.kind == "arm" else 0.2
    mechtests.record("best score", value, ci=(value - 0.05, value + 0.05), threshold=0.5)
    mechtests.record("profile", [0.1, 0.2])
    assert value >= 0.5
'''


def _properties(path) -> dict[str, dict[str, str]]:
    """{testcase name: {property name: value}}, names without xdist's `@group` suffix."""
    root = ET.parse(path).getroot()
    return {case.get("name").split("@")[0]: {p.get("name"): p.get("value") for p in case.iter("property")} for case in root.iter("testcase")}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "xdist"])
def test_each_result_has_its_verdict_expectation_and_evidence(suite, workers) -> None:
    suite.write(test_x=SUITE)
    assert suite.run("--junitxml=out.xml", *workers).ret == 0
    props = _properties(suite.pytester.path / "out.xml")
    arm, mdm = props["test_score[arm]"], props["test_score[mdm]"]
    assert (arm["mechtests.verdict"], arm["mechtests.expected"]) == ("holds", "holds")
    assert (mdm["mechtests.verdict"], mdm["mechtests.expected"]) == ("fails", "fails")
    assert arm["mechtests.hypothesis"] == "x.score" and arm["mechtests.subject"] == "arm"
    assert float(arm["mechtests.evidence.best score"]) == 0.9 and float(mdm["mechtests.evidence.best score"]) == 0.2
    assert arm["mechtests.seed"] == "0"
    assert "mechtests.evidence.profile" not in arm  # lists are for the report, not for JUnit


def test_no_junit_file_no_extra_properties(suite) -> None:
    """Without --junitxml the plugin adds nothing to the reports (and results.json is unchanged)."""
    suite.write(test_x=SUITE)
    assert suite.run().ret == 0
    assert suite.outcomes() == {"x.score": {"arm": "holds", "mdm": "fails"}}


def test_each_seed_of_a_multi_seed_run_names_its_seed(suite) -> None:
    suite.write(test_x=SUITE.replace("test_score(subject)", "test_score(subject, mech_seed)"))
    assert suite.run("--junitxml=out.xml", "--mech-seeds=2-3").ret == 0
    props = _properties(suite.pytester.path / "out.xml")
    assert props["test_score[seed2-arm]"]["mechtests.seed"] == "2" and props["test_score[seed3-mdm]"]["mechtests.seed"] == "3"
