"""Flat, named JUnit properties for each hypothesis result (`--junitxml`).

pytest writes a test's user_properties into its <testcase> when the teardown report arrives,
as strings; mechtests' own properties are dicts meant for the controller. This plugin adds,
to that teardown report and before junitxml reads it, properties a CI tool can read without
parsing anything:

    mechtests.hypothesis   overlap[ioi]                 (the hypothesis key)
    mechtests.subject      arm | mdm | pair             (which model the result is about)
    mechtests.verdict      holds | fails | ...          (mechtests.claims.outcomes)
    mechtests.expected     holds | fails | ... | none   (none: no expectation, mechtests.claims.expectations)
    mechtests.seed         0                            (under --mech-seeds, the seed this case ran at)
    mechtests.evidence.<name>  0.94                     (one per scalar evidence value)

Registered in the controller only (xdist workers write no XML), when --junitxml is given.
"""

from __future__ import annotations

from typing import Any

import pytest

from mechtests.plugin.collect import CASE_PROP, Collector
from mechtests.plugin.seeds import single_seed
from mechtests.plugin.state import MechtestsState

PREFIX = "mechtests."


def register(config: pytest.Config, state: MechtestsState) -> None:
    if not state.is_worker and getattr(config.option, "xmlpath", None):
        config.pluginmanager.register(JUnitProperties(state), "mechtests-junit")


class JUnitProperties:
    def __init__(self, state: MechtestsState) -> None:
        self.state = state
        self.collector = Collector()  # the phases seen so far, to judge a case as the report does

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when not in ("setup", "call", "teardown") or not any(name == CASE_PROP for name, _ in report.user_properties):
            return
        self.collector.add_report(report)
        if report.when == "teardown":
            report.user_properties.extend(self.properties(report))

    def properties(self, report: pytest.TestReport) -> list[tuple[str, Any]]:
        case = next(value["case"] for name, value in report.user_properties if name == CASE_PROP)
        record = self.collector.records.pop((case["key"], case["model"]))
        verdict, _ = record.outcome()
        props: list[tuple[str, Any]] = [
            (PREFIX + "hypothesis", case["key"]), (PREFIX + "subject", case["model"]),
            (PREFIX + "verdict", verdict), (PREFIX + "expected", case["expected"] or "none"),
            (PREFIX + "seed", single_seed(report.nodeid, self.state.settings["seed"])[1]),
        ]
        for entry in record.evidence:
            if not isinstance(entry["value"], list):
                props.append((f"{PREFIX}evidence.{entry['name']}", "nan" if entry["value"] is None else entry["value"]))
        return props
