"""`@mechtests.hypothesis`: a test becomes a named claim with expectations per model.

    @mechtests.hypothesis(
        claim="the MDM front-loads countdown computation",
        source="PAPER finding 2",
        expect={"arm": "fails", "mdm": "holds"},
    )
    def test_front_loading(subject, tasks): ...

A test that takes `subject` runs once per model of the pair (`[arm]`, `[mdm]`; `models=("mdm",)`
aims it at one) and its expectations use the keys "arm" and "mdm"; a test that takes `pair` (or neither) runs once and
uses the key "pair". A hypothesis that is several independent measurements may name them as
`parts` (mechtests.plugin.parts: under xdist they run side by side, the verdict stays one).
An expectation is one of holds, fails or inconclusive; how each outcome
maps onto pytest against it is mechtests.claims.outcomes' table: an expected "fails" is an xfail, so
the run stays green while the model behaves as known and turns red when the mechanism appears
(the test passes) or the test errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pytest

from mechtests.errors import MechtestsError
from mechtests.claims.outcomes import HOLDS, MODEL_KEYS, VERDICTS

MARK_NAME = "mechtests_hypothesis"


@dataclass(frozen=True)
class Hypothesis:
    """What a test claims. `expect` maps "arm"/"mdm" (or "pair") to holds, fails or inconclusive."""

    id: str
    claim: str = ""
    source: str | None = None
    expect: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    parts: Mapping[str, Callable[..., Any]] = field(default_factory=dict, compare=False)
    models: tuple[str, ...] = ("arm", "mdm")  # the models a `subject` test runs on

    def expected(self, model: str) -> str:
        """The verdict this hypothesis's own `expect=` names for `model`; a model it leaves out is
        expected to hold. (A run may use other expectations: mechtests.claims.expectations.)"""
        return self.expect.get(model, HOLDS)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "claim": self.claim, "source": self.source, "expect": dict(self.expect), "reason": self.reason}


def _check_id(value: Any) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value) or "[" in value:
        raise MechtestsError(
            f"hypothesis id must be a non-empty string without spaces or '[', got {value!r}",
            "use a snake_case name such as 'induction_heads_present'",
        )
    return value


def _check_claim(value: Any) -> str:
    if not isinstance(value, str) or "\n" in value:
        raise MechtestsError(f"claim must be a one-line string, got {value!r}", "state the claim in one sentence")
    return value


def _check_expect(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MechtestsError(
            f"expect must be a dict, got {value!r}", 'write expect={"arm": "holds", "mdm": "fails"} or expect={"pair": "holds"}'
        )
    out: dict[str, str] = {}
    for key, verdict in value.items():
        if key not in MODEL_KEYS:
            raise MechtestsError(f"expect has unknown key {key!r}", f"use {MODEL_KEYS[:2]} for subject tests or 'pair'")
        if verdict not in VERDICTS:
            raise MechtestsError(f"expect[{key!r}] is {verdict!r}", f"use one of {VERDICTS}")
        out[key] = verdict
    if "pair" in out and len(out) > 1:
        raise MechtestsError(f"expect mixes 'pair' with per-model keys: {sorted(out)}", "a pair-level test has only the key 'pair'")
    return out


def _check_models(value: Any, expect: Mapping[str, str]) -> tuple[str, ...]:
    if value is None:
        return ("arm", "mdm")
    models = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else None
    if not models or any(m not in ("arm", "mdm") for m in models) or len(set(models)) != len(models):
        raise MechtestsError(f"models must name 'arm', 'mdm' or both, got {value!r}", 'e.g. models=("mdm",) for an MDM-only claim')
    unaimed = sorted(set(expect) - {"pair", *models})
    if unaimed:
        raise MechtestsError(f"expect names {unaimed} but models={models!r}", "expect only the models the hypothesis runs on")
    return tuple(m for m in ("arm", "mdm") if m in models)


def _check_parts(value: Any) -> dict[str, Callable[..., Any]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(callable(fn) for fn in value.values()):
        raise MechtestsError(f"parts must map names to functions, got {value!r}", 'e.g. parts={"ioi": measure_ioi}')
    for name in value:
        if not isinstance(name, str) or not name or any(c in name for c in "[]\n") or "::" in name:
            raise MechtestsError(f"part name {name!r} is empty or holds '[', ']', '::' or a newline", "name it like 'ioi' or 'seed 1, ioi'")
    return dict(value)


def default_id(fn: Callable[..., Any]) -> str:
    """`heads.induction_heads_present` for test_induction_heads_present in test_heads.py."""
    strip = lambda name: name[5:] if name.startswith("test_") else name  # noqa: E731
    module = str(getattr(fn, "__module__", "") or "").rpartition(".")[2]
    return f"{strip(module)}.{strip(fn.__name__)}" if module else strip(fn.__name__)


def hypothesis(
    id: str | None = None,  # noqa: A002 - the public name of the field
    claim: str = "",
    source: str | None = None,
    expect: Mapping[str, str] | None = None,
    reason: str | None = None,
    parts: Mapping[str, Callable[..., Any]] | None = None,
    models: Sequence[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a test as a hypothesis. claim defaults to the docstring's first line; id to
    `<file>.<function>` without the `test_` prefixes (default_id), so that a copied suite file
    gets new ids without any edit. `parts`: name -> a function taking fixtures by name that
    does one of the hypothesis's cached measurements (mechtests.plugin.parts). `models`: the
    models a `subject` test runs on, e.g. ("mdm",) for a claim only an MDM can meet."""
    checked_expect = _check_expect(expect)
    checked_models = _check_models(models, checked_expect)
    checked_parts = _check_parts(parts)
    claim = _check_claim(claim)
    if source is not None and not isinstance(source, str):
        raise MechtestsError(f"source must be a string, got {source!r}", "e.g. source='PAPER finding 2'")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise MechtestsError(f"@hypothesis decorates a test function, got {fn!r}", "put it right above `def test_...`")
        hid = _check_id(id if id is not None else default_id(fn))
        spec = Hypothesis(id=hid, claim=claim or (fn.__doc__ or "").strip().split("\n")[0], source=source,
                          expect=checked_expect, reason=reason, parts=checked_parts, models=checked_models)
        return getattr(pytest.mark, MARK_NAME)(spec=spec)(fn)

    return decorate


def hypothesis_of(item: Any) -> Hypothesis | None:
    """The Hypothesis attached to a pytest item by @hypothesis, or None."""
    mark = item.get_closest_marker(MARK_NAME)
    if mark is None:
        return None
    spec = mark.kwargs.get("spec")
    if not isinstance(spec, Hypothesis):
        raise MechtestsError(
            f"{item.nodeid}: @pytest.mark.{MARK_NAME} used directly", "use @mechtests.hypothesis(...) instead"
        )
    return spec
