"""The fixtures a hypothesis takes: `subject` (one model; the test runs once per model), `pair`
(both) and `tasks` (the task datasets for the run's seed).

Registered only in a run that opted in (mechtests.plugin.opt_in): these are names another
project may use for fixtures of its own. They stand on the session caches of
mechtests.plugin.fixtures, so nothing loads until a test asks for one of them. A one-model run
(`--mdm=none`, `--arm=none`, or a pair that declares one model) asks for the missing model only
through `subject[role]` and `pair`, which raise NotApplicable: per-model hypotheses run on the
model there is, pair-level ones are reported as not applicable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from mechtests.claims.outcomes import NotApplicable
from mechtests.errors import MechtestsError
from mechtests.plugin.collect import MODEL_PROP
from mechtests.plugin.fixtures import one_model_reason
from mechtests.plugin.state import state_of
from mechtests.run.pairs import ROLES


@dataclass(frozen=True)
class Pair:
    """Both models of the pair, for hypotheses that compare them."""

    arm: Any
    mdm: Any
    name: str | None = None

    def __iter__(self):  # noqa: ANN204 - `for subject in pair`
        return iter((self.arm, self.mdm))


def _note_model(node: Any, role: str, subject: Any) -> None:
    """Put the model's identity into the test's report, so the controller can write it down."""
    spec = getattr(subject, "spec", None)
    entry = {"role": role, "path": str(getattr(subject, "path", "")), "weights_sha256": getattr(subject, "weights_sha256", None),
             "device": getattr(spec, "device", None), "dtype": getattr(spec, "dtype", None)}
    if (MODEL_PROP, entry) not in node.user_properties:
        node.user_properties.append((MODEL_PROP, entry))


@pytest.fixture
def subject(request: pytest.FixtureRequest, mech_models: Callable[[str], Any]) -> Any:
    """One model of the pair; the test runs once per model, with ids [arm] and [mdm]."""
    role = getattr(request, "param", None)
    if role not in ROLES:
        raise MechtestsError(
            f"`subject` got parameter {role!r}", "let the mechtests plugin parametrise it (do not parametrize 'subject')"
        )
    value = mech_models(role)
    _note_model(request.node, role, value)
    return value


@pytest.fixture
def pair(request: pytest.FixtureRequest, mech_models: Callable[[str], Any]) -> Pair:
    """Both models (`pair.arm`, `pair.mdm`), for hypotheses that compare them; NotApplicable in a
    one-model run."""
    pair_paths = state_of(request.config).pair
    for role in ROLES:
        if pair_paths.absent(role):
            raise NotApplicable(f"pair-level hypothesis in a one-model run: there is no {role.upper()} "
                                f"({one_model_reason(request.config, role)})")
    arm, mdm = mech_models("arm"), mech_models("mdm")
    _note_model(request.node, "arm", arm)
    _note_model(request.node, "mdm", mdm)
    return Pair(arm=arm, mdm=mdm, name=pair_paths.label)


@pytest.fixture
def tasks(request: pytest.FixtureRequest, mech_tasks: Callable[[str], Any]) -> Any:
    """The task datasets (`.induction`, `.ioi`, ...) for the pair's tokenizer and the run's seed.

    In a `subject` test they are built from that model's tokenizer; otherwise from the ARM's
    (from the one model of a one-model run).
    """
    callspec = getattr(request.node, "callspec", None)
    role = callspec.params.get("subject") if callspec is not None else None
    if role not in ROLES:
        roles = state_of(request.config).pair.roles
        role = "arm" if "arm" in roles or not roles else roles[0]
    return mech_tasks(role)
