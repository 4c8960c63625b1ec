"""The controller's part: gather every case, then write the reports once and run the gate.

Registered only in the process that owns the session (the only process with -n 0, the xdist
controller with -n N). Reports come in from any worker in any order; a worker's collected
and deselected cases arrive with its `workeroutput`, so a test that never reported (worker
crash, stop on first failure, Ctrl-C) still gets a row, as an error, and the run is marked
incomplete, while a deselected one is not_selected and the run stays complete.

Nothing computed is lost to a reporting problem: values JSON cannot hold are replaced and
flagged, a renderer that fails leaves a placeholder and the other files, and a report folder
that cannot be written sends the set to a temporary folder, named on the terminal.
"""

from __future__ import annotations

import datetime as dt
import html
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from mechtests.errors import MechtestsError
from mechtests.plugin import expectations, seeds
from mechtests.plugin.runinfo import git_info, versions
from mechtests.plugin.state import MechtestsState
from mechtests.reports import gate
from mechtests.reports.render_html import render_html
from mechtests.reports.render_markdown import render_markdown
from mechtests.reports.render_terminal import render_terminal
from mechtests.reports.schema import SCHEMA, SCHEMA_VERSION, dumps, json_safe, totals, write_set

WORKER_OUTPUT_KEY = "mechtests_cases"
DESELECTED_OUTPUT_KEY = "mechtests_deselected"
GATE_INPUT_ERROR = 2  # the exit status of a gate that could not compare (README: Running in CI)
RENDERERS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("report.html", render_html), ("summary.md", render_markdown))


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
        self.state.collector.add_known(output.get(WORKER_OUTPUT_KEY, {}))
        self.state.collector.add_deselected(output.get(DESELECTED_OUTPUT_KEY, {}))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        if self.config.option.collectonly:
            return
        state.collector.add_known(state.collected)
        state.collector.add_deselected(state.deselected)
        if not state.collector.has_cases():
            return
        missing = state.collector.finish()
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop) or bool(session.shouldfail)
        results = self.build_results(incomplete=missing or interrupted)
        if state.baseline_data is not None:
            self.gate(session, results)
        state.results = results
        self.write(results)

    def gate(self, session: pytest.Session, results: dict[str, Any]) -> None:
        """Compare with --mech-baseline: a changed verdict fails the session (exit 1); a
        baseline with nothing in common is an input error (exit 2)."""
        state = self.state
        try:
            comparison = gate.compare(state.baseline_data, gate.baseline_from_results(results),
                                      state.settings["tolerance"], state.settings["strict"])
        except MechtestsError as err:
            results["baseline"] = {"file": str(state.baseline), "error": str(err)}
            state.baseline_lines = [f"mechtests: --mech-baseline: {err}"]
            session.exitstatus = GATE_INPUT_ERROR
            return
        results["baseline"] = {"file": str(state.baseline), **comparison}
        state.baseline_lines = gate.describe(comparison, str(state.baseline))
        if gate.failed(comparison) and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def selection(self) -> dict[str, Any]:
        """Was this run a selection of the suite: hypotheses deselected (-k, -m, --deselect), or
        started on files or node ids rather than folders?"""
        not_selected = sum(1 for rec in self.state.collector.records.values() if rec.deselected)
        base = Path(self.config.invocation_params.dir)
        narrowed = any("::" in arg or (base / arg).is_file() for arg in self.config.args)
        return {"selected": bool(not_selected) or narrowed, "not_selected": not_selected}

    def build_results(self, incomplete: bool) -> dict[str, Any]:
        state = self.state
        models = {}
        for role in ("arm", "mdm"):
            seen = state.collector.models.get(role, {})
            models[role] = {"path": seen.get("path") or getattr(state.pair, role), "weights_sha256": seen.get("weights_sha256"),
                            "device": seen.get("device"), "dtype": seen.get("dtype")}  # where it ran, as placed
        hypotheses = state.collector.hypotheses(state.rerun, state.settings["strict"])
        if state.settings["seeds"]:
            hypotheses = seeds.combine(hypotheses, state.settings["strict"])
        finished = time.time()
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run": {
                "seed": state.settings["seed"],
                "seeds": list(state.settings["seeds"] or []) or None,
                "pair": state.pair.label,  # what ran: the pair's name, or what --arm/--mdm replaced
                "budget": state.settings.budget.as_dict(),
                "device": state.settings["device"] or "auto",  # as chosen; each model's placement is under models
                "dtype": state.settings["dtype"] or "auto",
                "max_memory": state.settings["max-memory"] or "auto",
                "strict": state.settings["strict"],
                "models": models,
                "versions": versions(),
                "git": git_info(state.rootdir),
                "incomplete": bool(incomplete),
                "selection": self.selection(),
                "started": _iso(state.started),
                "finished": _iso(finished),
                "duration_s": round(finished - state.started, 3),
                "invocation": {"args": list(self.config.invocation_params.args), "workers": self.workers,
                               "cluster": state.cluster},
                "expectations": expectations.stated(expectations.expectations_of(self.config), hypotheses),
            },
            "totals": totals(hypotheses),
            "hypotheses": hypotheses,
            "baseline": None,
            "problems": [],
        }

    def write(self, results: dict[str, Any]) -> None:
        """Render everything first, then replace the three files as one set; then the baseline."""
        state = self.state
        flags: list[str] = []
        results.update(json_safe(results, flags))
        if flags:
            results["problems"].append(f"{len(flags)} value(s) JSON cannot hold were replaced by null: " + "; ".join(flags[:5]))
        files = {}
        for name, render in RENDERERS:
            try:
                files[name] = render(results)
            except Exception as err:  # a renderer's bug must not cost the run its results
                problem = f"{name} could not be rendered ({type(err).__name__}: {err}); results.json holds the whole run"
                results["problems"].append(problem)
                files[name] = _placeholder(name, problem)
        files = {"results.json": dumps(results), **files}
        out = state.report_dir
        try:
            write_set(out, files)
        except OSError as err:
            out = Path(tempfile.mkdtemp(prefix="mechtests-reports-"))
            write_set(out, files)
            state.messages.append(f"could not write the reports to {state.report_dir} ({err.strerror or err}); "
                                  f"they are in {out}")
        state.messages += [f"problem: {p}" for p in results["problems"]]
        state.messages.append(f"reports: {out / 'results.json'}, report.html, summary.md")
        if state.save_baseline is not None:
            state.messages.append(self.save_baseline(results))
        if state.settings.paths["save-expectations"] is not None:
            state.messages.append(expectations.save(state.settings.paths["save-expectations"], results))
        unmatched = results["run"]["expectations"]["unmatched"]
        if unmatched:
            state.messages.append(f"could not match {len(unmatched)} expectation(s) to a result of this run (a misspelt id or "
                                  f"model, or a hypothesis outside the files collected): {', '.join(unmatched[:5])}")

    def save_baseline(self, results: dict[str, Any]) -> str:
        """Write --mech-save-baseline; a selection updates those entries of an existing baseline
        of the same weights (or saves the subset). Returns what was done, for the terminal."""
        path = self.state.save_baseline
        if results["run"]["incomplete"]:
            return f"not saving baseline {path}: this run is incomplete"
        fresh = gate.baseline_from_results(results)
        if not results["run"]["selection"]["selected"]:
            _write(path, fresh)
            return f"baseline saved: {path} ({len(fresh['cases'])} results)"
        try:
            existing = gate.load_baseline(str(path)) if path.is_file() else None
        except MechtestsError as err:
            return f"not saving baseline {path}: this run is a selection and the file there cannot be updated ({err})"
        if existing is None:
            _write(path, fresh)
            return f"baseline saved: {path} holds only this selection's {len(fresh['cases'])} results"
        if _weights(existing) != _weights(fresh):
            return (f"not saving baseline {path}: it was made on other weights and this run is a selection; "
                    "save a full run to replace it")
        merged = {**fresh, "cases": {**existing["cases"], **fresh["cases"]}}
        _write(path, merged)
        kept = len(merged["cases"]) - len(fresh["cases"])
        return f"baseline updated: {path}: {len(fresh['cases'])} results of this selection replaced, {kept} kept"

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        state = self.state
        if state.results is None:
            return
        terminalreporter.section("mechtests")
        for line in render_terminal(state.results):
            terminalreporter.write_line(line)
        for line in state.messages:
            terminalreporter.write_line(line, yellow=line.startswith(("problem", "could not", "not saving")))
        baseline = state.results["baseline"] or {}
        bad = bool(baseline.get("changed") or baseline.get("error"))
        for line in state.baseline_lines:
            terminalreporter.write_line(line, red=bad, bold=bad)


def _write(path: Path, baseline: dict[str, Any]) -> None:
    write_set(path.parent, {path.name: dumps(baseline)})


def _weights(baseline: dict[str, Any]) -> dict[str, Any]:
    models = baseline["run"].get("models") or {}
    return {role: (m or {}).get("weights_sha256") for role, m in models.items()}


def _placeholder(name: str, problem: str) -> str:
    if name.endswith(".html"):
        return f"<!DOCTYPE html><html lang='en'><meta charset='utf-8'><title>mechtests report</title><p>{html.escape(problem)}</p></html>\n"
    return f"# mechtests\n\n{problem}\n"


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).isoformat(timespec="seconds")
