"""Fixtures: `subject`, `pair`, `tasks`, `mech_seed`, `mech_budget`, and the session caches behind them.

Nothing loads until a test asks: a test that takes neither `subject`, `pair` nor `tasks`
costs nothing. Each model loads at most once per process (`mech_models`); a failed load is
remembered and re-raised, so a missing checkpoint is one clear error per test, not one load
attempt per test. `mech_loader` is the single place that turns a path into a Subject;
override it in a conftest.py to run the suite on substitute models.

A one-model run (`--mdm=none`, `--arm=none`, or a pair that declares one model) asks for the
missing model only through `subject[role]` and `pair`, which raise NotApplicable: per-model
hypotheses run on the model there is, pair-level ones are reported as not applicable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from mechtests.run import budget as run_budget
from mechtests.errors import MechtestsError
from mechtests.claims.outcomes import NotApplicable
from mechtests.run.pairs import ROLES, check_role
from mechtests.plugin.collect import MODEL_PROP
from mechtests.plugin.state import state_of


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


@pytest.fixture(scope="session")
def mech_seed(request: pytest.FixtureRequest) -> int:
    """The run's seed (--mech-seed, default 0; under --mech-seeds, this test's): every random
    choice of a test should use it."""
    return getattr(request, "param", state_of(request.config).settings["seed"])


def budget_of(config: pytest.Config) -> run_budget.Budget:
    """The run's budget: --mech-budget, else the pair table's, else [tool.mechtests] budget, else default."""
    state = state_of(config)
    name, from_cli = state.settings.get("budget"), state.settings.get("budget_from_cli", False)
    return run_budget.select(name if from_cli else None, state.pair.budget, None if from_cli else name)


@pytest.fixture(scope="session")
def mech_budget(request: pytest.FixtureRequest) -> run_budget.Budget:
    """The run's budget (mechtests.run.budget), made the active one for every test of the session."""
    budget = budget_of(request.config)
    run_budget.activate(budget)
    return budget


def load_options(config: pytest.Config, role: str) -> dict[str, Any]:
    """load_subject's options for `role`: the command line's device and dtype, then the pair
    table's options, then [tool.mechtests]' device and dtype (the checkpoint's mechtests block
    and the family's defaults come after, inside load_subject)."""
    state = state_of(config)
    options = state.pair.load_options(role)
    for key in ("device", "dtype"):
        if state.settings[f"{key}_from_cli"] or key not in options:
            options[key] = state.settings[key]
    return options


def placed_options(config: pytest.Config, role: str) -> dict[str, Any]:
    """`load_options` with the device and dtype chosen (mechtests.models.placement): `auto` and `cuda`
    give this xdist worker its own GPU, one per model of the pair when there are enough; dtype
    `auto` is bfloat16 on a GPU and float32 on the CPU."""
    from mechtests.models import placement  # here, not at the top: placement imports torch (start-up cost of the plugin)

    options = load_options(config, role)
    roles = state_of(config).pair.roles
    device = placement.device_for(options.get("device") or "auto", os.environ.get("PYTEST_XDIST_WORKER"),
                                  models=max(1, len(roles)), model=roles.index(role) if role in roles else 0)
    options["device"] = str(device)
    options["dtype"] = placement.resolve_dtype(options.get("dtype") or "auto", device)
    return options


@pytest.fixture(scope="session")
def mech_loader(request: pytest.FixtureRequest) -> Callable[[str, str], Any]:
    """`load(role, path) -> Subject`; by default mechtests.load_subject with `placed_options`."""
    from mechtests.models import load_subject  # here, not at the top: transformers loads only when a model does

    config = request.config

    def load(role: str, path: str) -> Any:
        return load_subject(path, **placed_options(config, role))

    return load


@pytest.fixture(scope="session")
def mech_models(
    request: pytest.FixtureRequest, mech_loader: Callable[[str, str], Any], mech_budget: run_budget.Budget
) -> Callable[[str], Any]:
    """`get(role) -> Subject`: each of the pair's models, loaded once per process; NotApplicable
    for the model a one-model run leaves out. Sets torch's threads first, once per process, for
    the default loader and an overriding one alike (mechtests.models.placement.apply_threads)."""
    from mechtests.models import placement  # here, not at the top: placement imports torch (start-up cost of the plugin)

    placement.apply_threads()
    pair_paths = state_of(request.config).pair
    cache: dict[str, Any] = {}

    def get(role: str) -> Any:
        if pair_paths.absent(role):
            raise NotApplicable(f"one-model run: there is no {role.upper()} ({_one_model_reason(pair_paths, role)})")
        if role not in cache:
            try:
                cache[role] = check_role(role, mech_loader(role, pair_paths.path(role)))
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


def _one_model_reason(pair_paths: Any, role: str) -> str:
    if role in pair_paths.replaced:
        return f"--{role}=none"
    return f"pair {pair_paths.name!r} declares no {role}"


@pytest.fixture
def pair(request: pytest.FixtureRequest, mech_models: Callable[[str], Any]) -> Pair:
    """Both models (`pair.arm`, `pair.mdm`), for hypotheses that compare them; NotApplicable in a
    one-model run."""
    pair_paths = state_of(request.config).pair
    for role in ROLES:
        if pair_paths.absent(role):
            raise NotApplicable(f"pair-level hypothesis in a one-model run: there is no {role.upper()} "
                                f"({_one_model_reason(pair_paths, role)})")
    arm, mdm = mech_models("arm"), mech_models("mdm")
    _note_model(request.node, "arm", arm)
    _note_model(request.node, "mdm", mdm)
    return Pair(arm=arm, mdm=mdm, name=pair_paths.label)


@pytest.fixture(scope="session")
def mech_tasks(mech_models: Callable[[str], Any], mech_seed: int, mech_budget: run_budget.Budget) -> Callable[[str], Any]:
    """`get(role) -> TaskSet` for that model's tokenizer, the run's seed and the budget's
    candidate count, built once."""
    cache: dict[str, Any] = {}

    def get(role: str) -> Any:
        if role not in cache:
            from mechtests.tasks import TaskSet

            cache[role] = TaskSet(mech_models(role).tokenizer, n=mech_budget.candidates, seed=mech_seed)
        return cache[role]

    return get


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
