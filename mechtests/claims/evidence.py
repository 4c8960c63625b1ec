"""`mechtests.record`: the measurements a hypothesis rests on, as plain JSON-able data.

    mechtests.record("best induction score", scores.max(), ci=(lo, hi), threshold=0.4)
    mechtests.record("attribution by layer", profile)          # a list: drawn as bars
    mechtests.record("induction score by head", scores)        # (layers, heads): a heatmap

Values become floats or (nested) lists of floats here, in the test's process, so they travel
to the xdist controller inside the test report. record() knows nothing of the session: the
plugin installs a sink for the duration of each test and record() pushes into it.

A number that JSON or a chart cannot take (NaN, an infinity, a magnitude above
MAX_MAGNITUDE) is stored as null and named in the entry's "flags", so the report is still
written and the reader sees what was replaced. A thresholded statistic that is null cannot
decide a claim: `unusable_statistic` names it, and the plugin makes the result an error.
"""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from mechtests.errors import MechtestsError

Sink = Callable[[dict[str, Any]], None]


@dataclass
class TestLog:
    """What one running test has recorded, and the claims it asserted that straddled their bar."""

    sink: Sink
    seed: int = 0  # the test's evaluation seed: estimates made without one take it
    hypothesis: bool = False  # a hypothesis's test: a straddling claim waits for the test's end
    entries: list[dict[str, Any]] = field(default_factory=list)
    straddling: list[str] = field(default_factory=list)


_LOG: ContextVar[TestLog | None] = ContextVar("mechtests_evidence_log", default=None)

MAX_ELEMENTS = 65536  # a list bigger than this is data for a file, not evidence for a report
MAX_MAGNITUDE = 1e300  # beyond this a number overflows the charts' arithmetic (ranges, scales)


@contextlib.contextmanager
def collecting(sink: Sink, seed: int = 0, hypothesis: bool = False) -> Iterator[TestLog]:
    """Send every record() made inside the block to `sink` (used by the plugin, one per test);
    the log also keeps the test's seed and, in a hypothesis, the claims that straddled their bar."""
    log = TestLog(sink, seed, hypothesis)
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)


def current_seed() -> int:
    """The running test's evaluation seed (0 outside a test)."""
    log = _LOG.get()
    return 0 if log is None else log.seed


def straddling() -> list[str]:
    """The claims asserted in the running test that straddled their bar (none outside a test)."""
    log = _LOG.get()
    return [] if log is None else list(log.straddling)


def note_decision(name: str, estimate: Any, bar: float, **how: Any) -> None:
    """An estimate compared with a bar inside a running test is evidence: its entry (recorded
    earlier under the same name, with charts or extras) gets the bar, or a new entry is
    recorded. `how`: for an estimate measured in rounds (mechtests.stats.sequential), the look
    that decided it and the examples and draws it used; its entry then takes the deciding look's
    value and interval in place of the first look's it was recorded with. Outside a test
    nothing is recorded."""
    log = _LOG.get()
    if log is None:
        return
    for entry in log.entries:
        if entry["name"] != name or isinstance(entry["value"], list) or entry["threshold"] not in (None, bar):
            continue
        if how:
            settled = make_entry(name, estimate, **how)
            entry.update(value=settled["value"], ci=settled["ci"])
            entry["extra"].update(settled["extra"])
            if settled.get("flags"):
                entry.setdefault("flags", []).extend(settled["flags"])
        if entry["threshold"] is None:
            entry["threshold"] = _number(bar, "threshold", entry.setdefault("flags", []))
            if not entry["flags"]:
                del entry["flags"]
        return
    record(name, estimate, threshold=bar, **how)


def note_inconclusive(text: str) -> bool:
    """Keep a claim that straddled its bar with the running hypothesis, which the plugin ends
    inconclusive unless an assertion fails; False outside a hypothesis (the caller must raise)."""
    log = _LOG.get()
    if log is None or not log.hypothesis:
        return False
    log.straddling.append(text)
    return True


def usable(value: float) -> bool:
    """A number the report can hold and draw: finite and at most MAX_MAGNITUDE in size."""
    return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


def _number(value: Any, what: str, flags: list[str]) -> float | None:
    """A float from a Python/numpy/torch scalar; one the report cannot take becomes None, flagged."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MechtestsError(
            f"{what} must be a number, got {type(value).__name__} {value!r:.60}",
            "pass a float, a list of floats, or a tensor/array (it is converted to a list)",
        )
    value = float(value)
    if usable(value):
        return value
    flags.append(f"{what}: {value!r} replaced by null")
    return None


def _plain(value: Any, what: str, flags: list[str], depth: int = 0) -> Any:
    """A float or a nested list of floats (at most 2 levels: per-layer profiles, head maps)."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if depth >= 2:
            raise MechtestsError(f"{what} nests deeper than 2 levels", "record a scalar, a list, or a list of lists")
        return [_plain(v, what, flags, depth + 1) for v in value]
    return _number(value, what, flags)


def _count(value: Any) -> int:
    return sum(_count(v) for v in value) if isinstance(value, list) else 1


def _unpack_estimate(value: Any, ci: Any, extra: dict[str, Any]) -> tuple[Any, Any]:
    """A mechtests.stats.Estimate records as its value, its interval and its seed and sample size."""
    if not all(hasattr(value, field) for field in ("value", "lo", "hi", "seed")):
        return value, ci
    extra.setdefault("seed", value.seed)
    if getattr(value, "n", 0):
        extra.setdefault("n", value.n)
    if getattr(value, "growth", None) is not None:  # recorded before a bar grew it: say so until one does
        extra.setdefault("sequential", f"first look only: n={value.n}, not yet compared with a bar")
    return value.value, (value.lo, value.hi) if ci is None else ci


def make_entry(name: str, value: Any, ci: Any = None, threshold: Any = None, **extra: Any) -> dict[str, Any]:
    """Validate one record() call into a plain dict {name, value, ci, threshold, extra} (and
    "flags" when some number had to be replaced by null)."""
    value, ci = _unpack_estimate(value, ci, extra)
    if not isinstance(name, str) or not name.strip():
        raise MechtestsError(f"record() needs a non-empty name, got {name!r}", "e.g. record('best induction score', x)")
    flags: list[str] = []
    plain = _plain(value, "value", flags)
    if isinstance(plain, list) and _count(plain) > MAX_ELEMENTS:
        raise MechtestsError(f"record({name!r}) got {_count(plain)} numbers", f"record at most {MAX_ELEMENTS}; summarise first")
    entry: dict[str, Any] = {"name": name, "value": plain, "ci": None, "threshold": None, "extra": {}}
    if ci is not None:
        if hasattr(ci, "tolist"):
            ci = ci.tolist()
        if not isinstance(ci, (list, tuple)) or len(ci) != 2:
            raise MechtestsError(f"record({name!r}) ci must be a (lo, hi) pair, got {ci!r:.60}", "pass ci=(lo, hi)")
        entry["ci"] = [_number(ci[0], "ci lo", flags), _number(ci[1], "ci hi", flags)]
    if threshold is not None:
        entry["threshold"] = _number(threshold, "threshold", flags)
    for key, val in extra.items():
        if hasattr(val, "item") and getattr(val, "ndim", 0) == 0:
            val = val.item()
        if val is not None and not isinstance(val, (str, int, float, bool)):
            raise MechtestsError(
                f"record({name!r}) extra {key}={val!r:.60} is not a str, int, float or bool", "convert it first"
            )
        if isinstance(val, float):
            val = _number(val, f"extra {key}", flags)
        entry["extra"][key] = val
    if flags:
        entry["flags"] = _summarise(flags)
    return entry


def _summarise(flags: list[str], limit: int = 5) -> list[str]:
    """At most `limit` flags, then how many more (a heatmap of NaNs is one problem, not 4096)."""
    return flags if len(flags) <= limit else [*flags[:limit], f"and {len(flags) - limit} more numbers replaced by null"]


def unusable_statistic(entries: list[dict[str, Any]]) -> str | None:
    """Why no verdict can rest on these entries: the first thresholded statistic, or its interval,
    that is null (NaN, infinite or out of range); None when every one is usable."""
    for entry in entries:
        if entry.get("threshold") is None and not _is_threshold_flagged(entry):
            continue
        if isinstance(entry["value"], list):
            continue  # a thresholded list is drawn, not decided on
        if entry["value"] is None or (entry.get("ci") and None in entry["ci"]) or entry.get("threshold") is None:
            why = "; ".join(entry.get("flags", [])) or "its value is null"
            return f"thresholded statistic {entry['name']!r} is not a finite number ({why}): the measurement did not work"
    return None


def _is_threshold_flagged(entry: dict[str, Any]) -> bool:
    return any(flag.startswith("threshold:") for flag in entry.get("flags", []))


def record(name: str, value: Any, ci: Any = None, threshold: Any = None, **extra: Any) -> dict[str, Any]:
    """Record one measurement of the running hypothesis test and return it as a plain dict.

    name: what was measured, as a reader should see it; value: a number, a list (or list of
    lists) of numbers for plots, or a mechtests.stats.Estimate (its interval, seed and sample
    size come along); ci: a (lo, hi) interval; threshold: the value the test's
    assertion compares against; extra: further str/number fields (e.g. seed=, n_examples=).
    """
    log = _LOG.get()
    if log is None:
        raise MechtestsError(
            "mechtests.record() was called outside a running test",
            "call it inside a test function collected by pytest with the mechtests plugin",
        )
    entry = make_entry(name, value, ci=ci, threshold=threshold, **extra)
    log.entries.append(entry)
    log.sink(entry)
    return entry


def describe(entry: dict[str, Any]) -> str:
    """One line for the terminal and the Markdown summary: `name = value [lo, hi] vs threshold t`,
    and for an estimate measured in rounds the look that decided it."""
    value = entry["value"]
    if isinstance(value, list):
        text = f"{entry['name']} = list of {len(value)}"
    else:
        text = f"{entry['name']} = {fmt(value)}"
    if entry.get("ci"):
        text += f" [{fmt(entry['ci'][0])}, {fmt(entry['ci'][1])}]"
    if entry.get("threshold") is not None:
        text += f" vs threshold {fmt(entry['threshold'])}"
    if entry.get("extra", {}).get("sequential"):  # measured in rounds: which look decided, on how many examples
        text += f" ({entry['extra']['sequential']})"
    return text


def fmt(x: float | None) -> str:
    if x is None:
        return "nan"
    return f"{x:.4g}"
