"""The controller's part: gather every case, then write the reports once and run the gate.

Registered only in the process that owns the session (the only process with -n 0, the xdist
controller with -n N). Reports come in from any worker in any order; a worker's collected
cases arrive with its `workeroutput`, so a test that never reported (worker crash, stop on
first failure, Ctrl-C) still gets a row, as error or as not run, and the run is marked
incomplete.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from mechtests.plugin.fixtures import budget_of
from mechtests.plugin.state import MechtestsState
from mechtests.reports import compare as gate
from mechtests.reports.schema import SCHEMA, SCHEMA_VERSION, atomic_write, dumps, totals

WORKER_OUTPUT_KEY = "mechtests_cases"
REPORT_FILES = ("results.json", "report.html", "summary.md")


class Controller:
    def __init__(self, config: pytest.Config, state: MechtestsState) -> None:
        self.config = config
        self.state = state
        self.workers = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.state.collector.add_report(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.workers += 1
        output = getattr(node, "workeroutput", None) or {}
        if WORKER_OUTPUT_KEY in output:
            self.state.collector.add_known(output[WORKER_OUTPUT_KEY])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        if self.config.option.collectonly:
            return
        state.collector.add_known(state.collected)
        if not state.collector.has_cases():
            return
        missing = state.collector.finish()
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop) or bool(session.shouldfail)
        results = self.build_results(incomplete=missing or interrupted)
        if state.baseline is not None:
            comparison = gate.compare(gate.load_baseline(str(state.baseline)), gate.baseline_from_results(results),
                                      state.settings["tolerance"])
            results["baseline"] = {"file": str(state.baseline), **comparison}
            state.baseline_lines = gate.describe(comparison, str(state.baseline))
            if gate.failed(comparison) and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        state.results = results
        self.write(results)

    def build_results(self, incomplete: bool) -> dict[str, Any]:
        from mechtests.plugin.runinfo import git_info, versions

        state = self.state
        models = {}
        for role in ("arm", "mdm"):
            seen = state.collector.models.get(role, {})
            models[role] = {"path": seen.get("path") or getattr(state.pair, role), "weights_sha256": seen.get("weights_sha256")}
        hypotheses = state.collector.hypotheses(state.rerun)
        finished = time.time()
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run": {
                "seed": state.settings["seed"],
                "pair": state.pair.label,  # what ran: the pair's name, or what --arm/--mdm replaced
                "budget": budget_of(self.config).as_dict(),
                "device": state.settings["device"],
                "dtype": state.settings["dtype"],
                "models": models,
                "versions": versions(),
                "git": git_info(state.rootdir),
                "incomplete": bool(incomplete),
                "started": _iso(state.started),
                "finished": _iso(finished),
                "duration_s": round(finished - state.started, 3),
                "invocation": {"args": list(self.config.invocation_params.args), "workers": self.workers},
            },
            "totals": totals(hypotheses),
            "hypotheses": hypotheses,
            "baseline": None,
        }

    def write(self, results: dict[str, Any]) -> None:
        """results.json first, then what renders from it; each file replaced atomically."""
        from mechtests.reports.render_html import render_html
        from mechtests.reports.render_markdown import render_markdown

        state = self.state
        out = state.report_dir
        atomic_write(out / "results.json", dumps(results))
        atomic_write(out / "report.html", render_html(results))
        atomic_write(out / "summary.md", render_markdown(results))
        state.messages.append(f"reports: {out / 'results.json'}, report.html, summary.md")
        if state.save_baseline is not None:
            if results["run"]["incomplete"]:
                state.messages.append(f"not saving baseline {state.save_baseline}: this run is incomplete")
            else:
                atomic_write(state.save_baseline, dumps(gate.baseline_from_results(results)))
                state.messages.append(f"baseline saved: {state.save_baseline}")

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        state = self.state
        if state.results is None:
            return
        from mechtests.reports.render_terminal import render_terminal

        terminalreporter.section("mechtests")
        for line in render_terminal(state.results):
            terminalreporter.write_line(line)
        for line in state.messages:
            terminalreporter.write_line(line)
        changed = bool(state.results["baseline"] and state.results["baseline"]["changed"])
        for line in state.baseline_lines:
            terminalreporter.write_line(line, red=changed, bold=changed)


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).isoformat(timespec="seconds")
