"""Headless Chromium driven through the DevTools protocol, for checking report.html as a reader sees it.

`open_page(path)` starts a fresh browser (its own throw-away profile, no network services,
no sandbox so that it runs as root in CI), opens the file at 1280 x 900 CSS pixels and hands
back a `Page` whose `evaluate` runs JavaScript in it; every request the page makes is logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import websocket  # websocket-client, a test dependency

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", "--hide-scrollbars")
WIDTH, HEIGHT = 1280, 900
START_TIMEOUT = 60.0


def find_browser() -> str | None:
    """$MECHTESTS_CHROMIUM, else the first Chromium-like browser on PATH."""
    named = os.environ.get("MECHTESTS_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


BROWSER = find_browser()
# Every browser test's marks: the extras lane runs it; without Chromium it skips, saying how to get one.
NEEDS_BROWSER = [pytest.mark.extras, pytest.mark.skipif(
    BROWSER is None, reason="no Chromium on PATH: apt-get install chromium chromium-driver, or set MECHTESTS_CHROMIUM")]


@dataclass
class Page:
    ws: Any
    requests: list[str] = field(default_factory=list)
    next_id: int = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; events that arrive meanwhile are logged, not lost."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def wait_for(self, event: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            self._event(message)
            if message.get("method") == event:
                return
        raise TimeoutError(f"no {event} within {timeout} s")

    def _event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")


def _devtools_port(profile: Path, proc: subprocess.Popen) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the browser exited with {proc.returncode} before it opened DevTools")
        if marker.is_file() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.1)
    raise TimeoutError(f"the browser opened no DevTools port within {START_TIMEOUT:.0f} s")


@contextlib.contextmanager
def open_page(path: Path, browser: str) -> Iterator[Page]:
    """The file at `path`, loaded in a fresh headless browser at 1280 px wide."""
    # The browser's helper processes can still be writing its profile when the main one has
    # exited: the whole process group is ended, and a profile file that appears during the clean-up
    # does not fail the test (it failed CI once: "Directory not empty: 'Default'").
    with tempfile.TemporaryDirectory(prefix="mechtests-chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([browser, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port = _devtools_port(Path(profile), proc)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                targets = json.load(response)
            target = next(t for t in targets if t.get("type") == "page")
            ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
            try:
                page = Page(ws)
                page.send("Network.enable")
                page.send("Page.enable")
                page.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
                page.send("Page.navigate", url=Path(path).resolve().as_uri())
                page.wait_for("Page.loadEventFired")
                yield page
            finally:
                ws.close()
        finally:
            _end_group(proc)


def _end_group(proc: subprocess.Popen) -> None:
    """Terminate the browser and every helper it started (its own session), killing what lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
