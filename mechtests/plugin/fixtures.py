"""Fixtures: `subject`, `pair`, `tasks`, `mech_seed`, and the session caches behind them.

Nothing loads until a test asks: a test that takes neither `subject`, `pair` nor `tasks`
costs nothing. Each model loads at most once per process (`mech_models`); a failed load is
remembered and re-raised, so a missing checkpoint is one clear error per test, not one load
attempt per test. `mech_loader` is the single place that turns a path into a Subject;
override it in a conftest.py to run the suite on substitute models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from mechtests.errors import MechtestsError
from mechtests.plugin.collect import MODEL_PROP
from mechtests.plugin.state import state_of

ROLES = ("arm", "mdm")


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
    entry = {"role": role, "path": str(getattr(subject, "path", "")),
             "weights_sha256": getattr(subject, "weights_sha256", None)}
    if (MODEL_PROP, entry) not in node.user_properties:
        node.user_properties.append((MODEL_PROP, entry))


@pytest.fixture(scope="session")
def mech_seed(request: pytest.FixtureRequest) -> int:
    """The run's seed (--mech-seed, default 0): every random choice of a test should use it."""
    return state_of(request.config).settings["seed"]


@pytest.fixture(scope="session")
def mech_loader(request: pytest.FixtureRequest) -> Callable[[str, str], Any]:
    """`load(role, path) -> Subject`; by default mechtests.load_subject on --mech-device/--mech-dtype."""
    settings = state_of(request.config).settings

    def load(role: str, path: str) -> Any:
        from mechtests.models import load_subject

        _share_cores()
        return load_subject(path, device=settings["device"], dtype=settings["dtype"])

    return load


def _share_cores() -> None:
    """Under xdist, give each worker its share of the cores: with every worker running torch's
    default thread count the CPU is oversubscribed and each forward pass gets several times slower."""
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="session")
def mech_models(request: pytest.FixtureRequest, mech_loader: Callable[[str, str], Any]) -> Callable[[str], Any]:
    """`get(role) -> Subject`: each of the pair's models, loaded once per process."""
    pair_paths = state_of(request.config).pair
    cache: dict[str, Any] = {}

    def get(role: str) -> Any:
        if role not in cache:
            try:
                subject = mech_loader(role, pair_paths.path(role))
                kind = getattr(subject, "kind", role)
                if kind != role:
                    raise MechtestsError(
                        f"the pair's {role} checkpoint {subject.path} is an {kind}",
                        f"pass an {role.upper()} with --{role}, or fix the mechtests block of its config.json",
                    )
                cache[role] = subject
            except Exception as err:  # remembered: every later test gets the same error at once
                cache[role] = err
        value = cache[role]
        if isinstance(value, Exception):
            raise value
        return value

    return get


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
    """Both models (`pair.arm`, `pair.mdm`), for hypotheses that compare them."""
    arm, mdm = mech_models("arm"), mech_models("mdm")
    _note_model(request.node, "arm", arm)
    _note_model(request.node, "mdm", mdm)
    return Pair(arm=arm, mdm=mdm, name=state_of(request.config).pair.name)


@pytest.fixture(scope="session")
def mech_tasks(mech_models: Callable[[str], Any], mech_seed: int) -> Callable[[str], Any]:
    """`get(role) -> TaskSet` for that model's tokenizer and the run's seed, built once."""
    cache: dict[str, Any] = {}

    def get(role: str) -> Any:
        if role not in cache:
            from mechtests.tasks import TaskSet

            cache[role] = TaskSet(mech_models(role).tokenizer, seed=mech_seed)
        return cache[role]

    return get


@pytest.fixture
def tasks(request: pytest.FixtureRequest, mech_tasks: Callable[[str], Any]) -> Any:
    """The task datasets (`.induction`, `.ioi`, ...) for the pair's tokenizer and the run's seed.

    In a `subject` test they are built from that model's tokenizer; otherwise from the ARM's.
    """
    callspec = getattr(request.node, "callspec", None)
    role = callspec.params.get("subject", "arm") if callspec is not None else "arm"
    return mech_tasks(role if role in ROLES else "arm")
