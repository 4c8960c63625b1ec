"""Live progress in pytest's terminal: one updating line per running hypothesis.

Where a test runs (the only process under -n 0, a worker under xdist), `Sender` installs a
sink for `mechtests.run.progress.step` around the test. A step (at most one per INTERVAL_S)
becomes a TestReport with when="mechtests-progress" passed to pytest_runtest_logreport: the
one per-test channel that pytest-xdist forwards from a worker to the controller while the
test still runs. In the controller, `Board` keeps the latest step of each running hypothesis
and draws them as a block below pytest's own output, erasing the block before pytest writes
anything; such reports count as no outcome (no letter, no word, not in JUnit).

Quiet, and nothing is sent, when the terminal is not a TTY, under -q, or when $CI is set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from typing import Any, Callable, Iterator

import pytest

from mechtests.run import progress
from mechtests.plugin.state import CASE_KEY, MechtestsState

PROGRESS_WHEN = "mechtests-progress"
PROGRESS_PROP = "mechtests.run.progress"
WORKER_KEY = "mechtests_progress"
INTERVAL_S = 0.5


def is_progress(report: Any) -> bool:
    return getattr(report, "when", None) == PROGRESS_WHEN


def shown(config: pytest.Config) -> bool:
    """Progress is drawn on an interactive terminal at normal or higher verbosity, outside CI."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return reporter is not None and bool(reporter.isatty) and config.get_verbosity() >= 0 and not os.environ.get("CI")


def register(config: pytest.Config, state: MechtestsState) -> None:
    if state.is_worker:
        if config.workerinput.get(WORKER_KEY):  # type: ignore[attr-defined]
            config.pluginmanager.register(Sender(lambda: True), "mechtests-progress-sender")
        return
    board = Board(config)
    config.pluginmanager.register(board, "mechtests-progress-board")
    config.pluginmanager.register(Sender(lambda: board.enabled), "mechtests-progress-sender")


class _Relay:
    """Where one running test's status goes: a progress report (throttled by progress.Throttled)."""

    def __init__(self, item: pytest.Item) -> None:
        self.item = item
        self.started = time.monotonic()
        case = item.stash.get(CASE_KEY, None)
        self.label = f"{case['key']} [{case['model']}]" if case else item.nodeid

    def __call__(self, status: progress.Status) -> None:
        info = {"label": self.label, "step": str(status), "elapsed_s": round(time.monotonic() - self.started, 1)}
        report = pytest.TestReport(self.item.nodeid, self.item.location, {}, "passed", None, PROGRESS_WHEN,  # type: ignore[arg-type]
                                   user_properties=[(PROGRESS_PROP, info)])
        self.item.ihook.pytest_runtest_logreport(report=report)


class Sender:
    def __init__(self, enabled: Callable[[], bool]) -> None:
        self.enabled = enabled

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        if not self.enabled():
            return (yield)
        with progress.reporting(progress.Throttled(_Relay(item), INTERVAL_S)):
            return (yield)


class Board:
    """The block of progress lines under pytest's output, in the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.lines: dict[str, tuple[Any, str]] = {}  # nodeid -> (worker or None, text)
        self.drawn = False
        self.closed = False

    @functools.cached_property
    def enabled(self) -> bool:
        """Asked first when the run starts: the terminal reporter exists only after every pytest_configure."""
        return shown(self.config)

    @functools.cached_property
    def tw(self) -> Any:
        return self.config.get_terminal_writer()

    @functools.cached_property
    def capture(self) -> Any:
        return self.config.pluginmanager.get_plugin("capturemanager")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_KEY] = self.enabled

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: Any, config: pytest.Config) -> tuple[str, str, str] | None:
        return ("", "", "") if is_progress(report) else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Any:
        if is_progress(report):
            result = yield
            info = dict(report.user_properties).get(PROGRESS_PROP) or {}
            self.lines[report.nodeid] = (getattr(report, "node", None), f"{info.get('label')}: {info.get('step')} · {info.get('elapsed_s', 0):.0f} s")
            self.draw()
            return result
        with self.around_output():
            result = yield
            if report.when != "setup":  # the call has ended (or the worker crashed): its line goes
                self.lines.pop(report.nodeid, None)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> Any:
        with self.around_output():
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> Any:
        self.lines.pop(nodeid, None)
        with self.around_output():
            return (yield)

    @pytest.hookimpl(optionalhook=True, wrapper=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> Any:
        self.lines = {k: v for k, v in self.lines.items() if v[0] is not node}
        with self.around_output():
            return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Any:
        self.erase()
        self.closed = True
        return (yield)

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.erase()
        self.closed = True

    @contextlib.contextmanager
    def around_output(self) -> Iterator[None]:
        """Around a hook in which pytest may write: the block is off the screen, then drawn again."""
        self.erase()
        try:
            yield
        finally:
            self.draw()

    def _write(self, text: str) -> None:
        # Under -n 0 a step arrives while the test's output is captured: write past the capture,
        # as pytest's live logging does.
        disabled = self.capture.global_and_fixture_disabled() if self.capture else contextlib.nullcontext()
        with disabled:
            self.tw.write_raw(text, flush=True)

    def draw(self) -> None:
        if self.closed or not self.lines or not self.enabled:
            return
        width = max(self.tw.fullwidth - 1, 20)
        dim, reset = ("\x1b[2m", "\x1b[0m") if self.tw.hasmarkup else ("", "")
        block = "".join(f"\n{dim}{_clip(text, width)}{reset}" for _, text in self.lines.values())
        column = self.tw.width_of_current_line
        back = f"\r\x1b[{len(self.lines)}A" + (f"\x1b[{column}C" if column > 0 else "")
        # Relative moves (not save/restore), so that a block that scrolls the screen still finds its way back.
        self._write(("\x1b[J" if self.drawn else "") + block + back)
        self.drawn = True

    def erase(self) -> None:
        if self.drawn:
            self._write("\x1b[J")
            self.drawn = False


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
