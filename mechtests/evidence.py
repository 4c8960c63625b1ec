"""`mechtests.record`: the measurements a hypothesis rests on, as plain JSON-able data.

    mechtests.record("best induction score", scores.max(), ci=(lo, hi), threshold=0.4)
    mechtests.record("attribution by layer", profile)          # a list: drawn as bars
    mechtests.record("induction score by head", scores)        # (layers, heads): a heatmap

Values become floats or (nested) lists of floats here, in the test's process, so they travel
to the xdist controller inside the test report. record() knows nothing of the session: the
plugin installs a sink for the duration of each test and record() pushes into it.
"""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar
from typing import Any, Callable, Iterator

from mechtests.errors import MechtestsError

Sink = Callable[[dict[str, Any]], None]
_SINK: ContextVar[Sink | None] = ContextVar("mechtests_evidence_sink", default=None)

MAX_ELEMENTS = 65536  # a list bigger than this is data for a file, not evidence for a report


@contextlib.contextmanager
def collecting(sink: Sink) -> Iterator[None]:
    """Send every record() made inside the block to `sink` (used by the plugin, one per test)."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


def _number(value: Any, what: str) -> float | None:
    """A float from a Python/numpy/torch scalar; NaN and infinities become None (JSON has none)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MechtestsError(
            f"{what} must be a number, got {type(value).__name__} {value!r:.60}",
            "pass a float, a list of floats, or a tensor/array (it is converted to a list)",
        )
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value: Any, what: str, depth: int = 0) -> Any:
    """A float or a nested list of floats (at most 2 levels: per-layer profiles, head maps)."""
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if depth >= 2:
            raise MechtestsError(f"{what} nests deeper than 2 levels", "record a scalar, a list, or a list of lists")
        return [_plain(v, what, depth + 1) for v in value]
    return _number(value, what)


def _count(value: Any) -> int:
    return sum(_count(v) for v in value) if isinstance(value, list) else 1


def _unpack_estimate(value: Any, ci: Any, extra: dict[str, Any]) -> tuple[Any, Any]:
    """A mechtests.stats.Estimate records as its value, its interval and its seed and sample size."""
    if not all(hasattr(value, field) for field in ("value", "lo", "hi", "seed")):
        return value, ci
    extra.setdefault("seed", value.seed)
    if getattr(value, "n", 0):
        extra.setdefault("n", value.n)
    return value.value, (value.lo, value.hi) if ci is None else ci


def make_entry(name: str, value: Any, ci: Any = None, threshold: Any = None, **extra: Any) -> dict[str, Any]:
    """Validate one record() call into a plain dict {name, value, ci, threshold, extra}."""
    value, ci = _unpack_estimate(value, ci, extra)
    if not isinstance(name, str) or not name.strip():
        raise MechtestsError(f"record() needs a non-empty name, got {name!r}", "e.g. record('best induction score', x)")
    plain = _plain(value, f"record({name!r}) value")
    if isinstance(plain, list) and _count(plain) > MAX_ELEMENTS:
        raise MechtestsError(f"record({name!r}) got {_count(plain)} numbers", f"record at most {MAX_ELEMENTS}; summarise first")
    entry: dict[str, Any] = {"name": name, "value": plain, "ci": None, "threshold": None, "extra": {}}
    if ci is not None:
        if hasattr(ci, "tolist"):
            ci = ci.tolist()
        if not isinstance(ci, (list, tuple)) or len(ci) != 2:
            raise MechtestsError(f"record({name!r}) ci must be a (lo, hi) pair, got {ci!r:.60}", "pass ci=(lo, hi)")
        entry["ci"] = [_number(ci[0], "ci lo"), _number(ci[1], "ci hi")]
    if threshold is not None:
        entry["threshold"] = _number(threshold, f"record({name!r}) threshold")
    for key, val in extra.items():
        if hasattr(val, "item") and getattr(val, "ndim", 0) == 0:
            val = val.item()
        if val is not None and not isinstance(val, (str, int, float, bool)):
            raise MechtestsError(
                f"record({name!r}) extra {key}={val!r:.60} is not a str, int, float or bool", "convert it first"
            )
        entry["extra"][key] = val
    return entry


def record(name: str, value: Any, ci: Any = None, threshold: Any = None, **extra: Any) -> dict[str, Any]:
    """Record one measurement of the running hypothesis test and return it as a plain dict.

    name: what was measured, as a reader should see it; value: a number, a list (or list of
    lists) of numbers for plots, or a mechtests.stats.Estimate (its interval, seed and sample
    size come along); ci: a (lo, hi) interval; threshold: the value the test's
    assertion compares against; extra: further str/number fields (e.g. seed=, n_examples=).
    """
    sink = _SINK.get()
    if sink is None:
        raise MechtestsError(
            "mechtests.record() was called outside a running test",
            "call it inside a test function collected by pytest with the mechtests plugin",
        )
    entry = make_entry(name, value, ci=ci, threshold=threshold, **extra)
    sink(entry)
    return entry


def describe(entry: dict[str, Any]) -> str:
    """One line for the terminal: `name = value [lo, hi] vs threshold t`."""
    value = entry["value"]
    if isinstance(value, list):
        text = f"{entry['name']} = list of {len(value)}"
    else:
        text = f"{entry['name']} = {fmt(value)}"
    if entry.get("ci"):
        text += f" [{fmt(entry['ci'][0])}, {fmt(entry['ci'][1])}]"
    if entry.get("threshold") is not None:
        text += f" vs threshold {fmt(entry['threshold'])}"
    return text


def fmt(x: float | None) -> str:
    if x is None:
        return "nan"
    return f"{x:.4g}"
