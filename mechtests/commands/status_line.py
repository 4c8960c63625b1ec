"""Live progress for the commands (`mechtests eval`): what the measurement reports through
mechtests.run.progress, redrawn in place on one line of stderr, erased when the command's work ends.

Shown only where pytest's terminal would show it (mechtests.plugin.progress): stderr is a
terminal and $CI is unset. Otherwise nothing is written, so piped output and CI logs stay clean.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from typing import Iterator, TextIO

from mechtests.run import progress

INTERVAL_S = 0.2


def shown(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")


class _Line:
    """The running status, written over itself (throttled by progress.Throttled)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.drawn = False

    def __call__(self, status: progress.Status) -> None:
        width = max(shutil.get_terminal_size().columns - 1, 20)
        text = str(status)
        text = text if len(text) <= width else text[: width - 1] + "…"
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()
        self.drawn = True

    def erase(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


@contextlib.contextmanager
def status_line(stream: TextIO | None = None) -> Iterator[None]:
    """Show the progress of the work done inside the block on `stream` (default stderr), when it is a terminal."""
    stream = stream or sys.stderr
    if not shown(stream):
        yield
        return
    line = _Line(stream)
    try:
        with progress.reporting(progress.Throttled(line, INTERVAL_S)):
            yield
    finally:
        line.erase()
