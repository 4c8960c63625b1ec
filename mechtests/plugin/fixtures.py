"""The session fixtures every run has: `mech_seed`, `mech_budget`, `mech_loader`, `mech_models`
and `mech_tasks`, the caches that `subject`, `pair` and `tasks` (mechtests.plugin.pair_fixtures)
stand on.

Nothing loads until a test asks: a test that takes neither `subject`, `pair` nor `tasks` costs
nothing. Each model loads at most once per process (`mech_models`); a failed load is remembered
and re-raised, so a missing checkpoint is one clear error per test, not one load attempt per
test. `mech_loader` is the single place that turns a path into a Subject; override it in a
conftest.py to run the suite on substitute models.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import pytest

from mechtests.claims.outcomes import NotApplicable
from mechtests.plugin.state import state_of
from mechtests.run import budget as run_budget
from mechtests.run.pairs import check_role


def _loading() -> ModuleType:
    """mechtests.plugin.loading, imported when a test first needs a model or a task set."""
    from mechtests.plugin import loading  # start-up cost: it imports torch and transformers

    return loading


@pytest.fixture(scope="session")
def mech_seed(request: pytest.FixtureRequest) -> int:
    """The run's seed (--mech-seed, default 0; under --mech-seeds, this test's): every random
    choice of a test should use it."""
    return getattr(request, "param", state_of(request.config).settings["seed"])


@pytest.fixture(scope="session")
def mech_budget(request: pytest.FixtureRequest) -> run_budget.Budget:
    """The run's budget (mechtests.run.budget), made the active one for every test of the session;
    --mech-sequential, when given, replaces its `sequential` (mechtests.stats.sequential reads it)."""
    settings = state_of(request.config).settings
    budget = run_budget.with_sequential(settings.budget, settings["sequential"])
    run_budget.activate(budget)
    return budget


@pytest.fixture(scope="session")
def mech_loader(request: pytest.FixtureRequest) -> Callable[[str, str], Any]:
    """`load(role, path) -> Subject`; by default mechtests.load_subject, placed by
    mechtests.plugin.loading.placed_options."""
    config = request.config

    def load(role: str, path: str) -> Any:
        return _loading().load(config, role, path)

    return load


def one_model_reason(config: pytest.Config, role: str) -> str:
    """Why a one-model run has no `role`: the option that left it out, or the pair that declares none."""
    settings = state_of(config).settings
    if role not in settings.pair.replaced:
        return f"pair {settings.pair.name!r} declares no {role}"
    flag = settings.flag(role)
    return f"{flag}=none" if flag else f"{settings.label(role)} = none"


@pytest.fixture(scope="session")
def mech_models(
    request: pytest.FixtureRequest, mech_loader: Callable[[str, str], Any], mech_budget: run_budget.Budget
) -> Callable[[str], Any]:
    """`get(role) -> Subject`: each of the pair's models, loaded once per process; NotApplicable
    for the model a one-model run leaves out. Sets torch's threads first, once per process, for
    the default loader and an overriding one alike (mechtests.models.placement.apply_threads)."""
    _loading().apply_threads()
    pair_paths = state_of(request.config).pair
    cache: dict[str, Any] = {}

    def get(role: str) -> Any:
        if pair_paths.absent(role):
            raise NotApplicable(f"one-model run: there is no {role.upper()} ({one_model_reason(request.config, role)})")
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


@pytest.fixture(scope="session")
def mech_tasks(mech_models: Callable[[str], Any], mech_seed: int, mech_budget: run_budget.Budget) -> Callable[[str], Any]:
    """`get(role) -> TaskSet` for that model's tokenizer, the run's seed and the budget's
    candidate count, built once."""
    cache: dict[str, Any] = {}

    def get(role: str) -> Any:
        if role not in cache:
            cache[role] = _loading().TaskSet(mech_models(role).tokenizer, n=mech_budget.candidates, seed=mech_seed)
        return cache[role]

    return get
