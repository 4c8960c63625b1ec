"""Live progress of a long measurement, shown on the running hypothesis's line of pytest's terminal.

    progress.step("EAP-IG ioi (mdm)")                          # the stage that runs now
    progress.step("integrated-gradient steps", 3, 8)           # how far its loop got
    for s in progress.iterate(sets, "control sets"): ...       # the same, around a loop

A step without `done` names a stage; a step with `done` is a count within the current stage.
Counts of different loops in one stage (example batches, and the integrated-gradient passes
within each) are shown side by side, outer loop first, until the next stage begins (`Status`).

Measurements call `step` and know nothing of the terminal: outside a test that the plugin
watches (or when the terminal is quiet: -q, not a TTY, CI) it returns at once. The plugin
installs a sink around each test (`reporting`) and carries the steps to the terminal, through
the xdist controller when the test runs on a worker.
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sized, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    what: str
    done: int | None = None
    total: int | None = None

    @property
    def is_stage(self) -> bool:
        return self.done is None

    def __str__(self) -> str:
        if self.done is None:
            return self.what
        return f"{self.what} {self.done}/{self.total}" if self.total else f"{self.what} {self.done}"


class Status:
    """What a running measurement is doing, from its steps: the stage, and the latest count of
    each loop within it, outer loop first (`EAP-IG ioi (mdm) · eap-ig on mdm: examples 8/64 ·
    integrated-gradient passes 2/4`). What the pytest terminal and the commands show."""

    def __init__(self) -> None:
        self.stage = ""
        self.counts: dict[str, Step] = {}

    def update(self, step: Step) -> None:
        if step.is_stage:
            self.stage, self.counts = step.what, {}
        else:
            self.counts[step.what] = step

    def __str__(self) -> str:
        return " · ".join([*([self.stage] if self.stage else []), *map(str, self.counts.values())])


class Throttled:
    """A sink that folds every step into a Status and hands it to `show` at most once per
    `interval_s` (a terminal line need not be redrawn faster than a reader can read it)."""

    def __init__(self, show: Callable[[Status], None], interval_s: float) -> None:
        self.show = show
        self.interval_s = interval_s
        self.status = Status()
        self.last = float("-inf")

    def __call__(self, step: Step) -> None:
        self.status.update(step)
        now = time.monotonic()
        if now - self.last >= self.interval_s:
            self.last = now
            self.show(self.status)


Sink = Callable[[Step], None]
_SINK: ContextVar[Sink | None] = ContextVar("mechtests_progress_sink", default=None)


def step(what: str, done: int | None = None, total: int | None = None) -> None:
    """Say what the running measurement is doing (and `done` of `total` units); cheap when nobody listens."""
    sink = _SINK.get()
    if sink is not None:
        sink(Step(what, done, total))


def iterate(items: Iterable[T], what: str) -> Iterator[T]:
    """`items`, with a counted step before the first (`what` 0/n: the loop and its size are
    known at once) and after each one (`what` i/n when `items` has a length)."""
    total = len(items) if isinstance(items, Sized) else None
    step(what, 0, total)
    for done, item in enumerate(items, start=1):
        yield item
        step(what, done, total)


@contextlib.contextmanager
def reporting(sink: Sink) -> Iterator[None]:
    """Send every step() made inside the block to `sink` (the plugin, one per test)."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
