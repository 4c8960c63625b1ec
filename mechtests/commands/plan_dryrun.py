"""The plan's dry run: the suites' own code, run by pytest with the selected hypotheses, on
stand-in models, with every model-running function replaced by a recorder.

Why a dry run and not a table of what each hypothesis measures: a table copied from the suites
goes stale the day a hypothesis changes, and cannot follow `-k`. Here the hypotheses run as
written (their fixtures, parts, loops over tasks, robustness variants, property examples), so
the plan counts what the code asks for. A stand-in subject has the model's facts (shape,
kind, tokenizer, identity) and no weights; each function that would run the model is replaced,
for the length of the dry run, by its `Stand` (mechtests.commands.plan_work): it records the
rows the real function would send through the model for the arguments it got, and returns a
result of the right shape. The measurement cache is read, never written: an entry on disk costs
nothing and its real value is used (a cached pool is the real pool), and a second request for
the same key in one hypothesis costs nothing, as in a run. A function that runs a model and has
no Stand fails on the stand-in (it has no weights), and the plan says the hypothesis is partly
counted, naming the error, rather than counting it short in silence.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch

from mechtests.claims.outcomes import ClaimFailed, Inconclusive, NotApplicable
from mechtests.commands.plan_models import ModelFacts
from mechtests.commands.plan_work import STANDS, Stand, Work
from mechtests.errors import MechtestsError
from mechtests.plugin import loading
from mechtests.run import budget as run_budget
from mechtests.run import cache
from mechtests.run.settings import BY_KEY


VERDICTS = (ClaimFailed, Inconclusive, NotApplicable)  # how a hypothesis ends on the stand-ins' values: its count is whole


class StandIn:
    """A model as the suites see it, without weights: shape, kind, tokenizer and identity."""

    def __init__(self, facts: ModelFacts) -> None:
        self.tokenizer = facts.tokenizer
        self.kind, self.path, self.spec, self.direction = facts.role, facts.path, None, "unmeasured"
        identity = facts.identity
        self.weights_sha256, self.mask_token_id, self.prediction = identity.weights_sha256, identity.mask_token_id, identity.prediction
        self.dtype, self.device = identity.dtype, torch.device(identity.device)
        shape = facts.shape
        self.n_layers, self.n_heads, self.d_model, self.d_mlp, self.vocab_size = shape.n_layers, shape.n_heads, shape.d_model, shape.d_mlp, shape.vocab
        self.is_mdm, self.allows_padding = facts.role == "mdm", facts.allows_padding
        self.model = torch.nn.Module()  # no forward: an unrecorded function that runs the model fails here
        self.model.register_parameter("element", torch.nn.Parameter(torch.empty(0, dtype=self.dtype), requires_grad=False))

    def __repr__(self) -> str:
        return f"StandIn({self.kind}, {self.path!r})"


class Recorder:
    """Collects each hypothesis's Works (keyed by test id) and how each test ended."""

    def __init__(self, facts: dict[str, ModelFacts]) -> None:
        self.subjects = {role: StandIn(f) for role, f in facts.items()}
        self.works: dict[str, list[Work]] = {}
        self.problems: dict[str, str] = {}
        self.test = ""
        self._seen: dict[str, Any] = {}
        self._pending: list[dict[str, Any]] = []
        self._keys: dict[str, dict[str, str]] = {}
        self._cache_key = cache.cache_key

    # --- the pytest hooks ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.test, self._seen = item.nodeid, {}
        self.works[item.nodeid] = []

    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        """An error other than a failed assert or not applicable (in setup, parts or body) stopped the count."""
        error = call.excinfo
        if error is None or isinstance(error.value, (AssertionError, pytest.skip.Exception, *VERDICTS)):
            return
        text = str(error.value).splitlines()
        self.problems.setdefault(item.nodeid, f"{error.typename}: {text[0] if text else ''}")

    # --- the stand-ins --------------------------------------------------------------------------------
    def cache_key(self, subject: Any, task: str, examples: Any, method: str, params: Any = None) -> str:
        """cache.cache_key, remembering which task and method each key is for."""
        key = self._cache_key(subject, task, examples, method, params)
        self._keys[key] = {"task": task, "method": method, "model": getattr(subject, "kind", "")}
        return key

    def cached(self, key: str, compute: Callable[[], Any], meta: Any = None, enabled: bool = True) -> dict[str, torch.Tensor]:
        """cache.cached, read-only: a stored entry is used, a missing one is recorded and stood in for."""
        if enabled and key in self._seen:
            return dict(self._seen[key])
        entry = cache.load(key) if enabled else None
        about = {**self._keys.get(key, {}), "key": key}
        if entry is not None:
            self.works[self.test].append(Work(about.get("method", "?"), about.get("model", ""), 0, 0, (), (), key, about.get("task", ""), cached=True))
            value = entry[0]
        else:
            self._pending.append(about)
            try:
                value = dict(compute())
            finally:
                self._pending.pop()
        self._seen[key] = value
        return dict(value)

    def stand(self, stand: Stand) -> Callable[..., Any]:
        def recorded(subject: Any, *args: Any, **kwargs: Any) -> Any:
            outer = self._pending[-1] if self._pending else {}
            full, seq_len, examples = stand.runs(False, subject, *args, **kwargs)
            first, _, _ = stand.runs(True, subject, *args, **kwargs)
            kind = f"{outer['method']} ({stand.kind})" if outer.get("method") and outer["method"] != stand.kind else stand.kind
            self.works[self.test].append(Work(kind, subject.kind, seq_len, examples, full, first, outer.get("key"), str(outer.get("task", ""))))
            return stand.result(subject, *args, **kwargs)

        return recorded


@contextlib.contextmanager
def replaced(recorder: Recorder) -> Iterator[None]:
    """Every reference to a Stand's function in the loaded modules, and cache.cached and cache_key, replaced
    by the recorder's; the suites import theirs after this (at collection). Put back after."""
    swaps = [(cache.cached, recorder.cached), (cache.cache_key, recorder.cache_key)]
    for stand in STANDS:
        swaps.append((getattr(importlib.import_module(stand.module), stand.name), recorder.stand(stand)))
    undo = []
    for original, replacement in swaps:
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("mechtests"):
                for name, value in list(vars(module).items()):
                    if value is original:
                        undo.append((module, name, original))
                        setattr(module, name, replacement)
    try:
        yield
    finally:
        for module, name, original in undo:
            setattr(module, name, original)


def pytest_args(options: dict[str, tuple[Any, str]], select: str | None, paths: list[str], report: str) -> list[str]:
    """The pytest command line of the dry run: the plan's run options under pytest's flags."""
    args = [*paths, "-q", "-p", "no:cacheprovider", "-p", "no:anyio", "--mech-report", report, "-W", "ignore"]  # anyio: its plugin fails to import a second time in one process
    if importlib.util.find_spec("xdist") is not None:
        args += ["-n", "0"]
    for key, (value, _flag) in options.items():
        opt = BY_KEY[key]
        args += [opt.flag] if opt.const is not None else [opt.flag, str(value)]
    return args + (["-k", select] if select else [])


def dry_run(facts: dict[str, ModelFacts], options: dict[str, tuple[Any, str]], select: str | None, paths: list[str]) -> Recorder:
    """Run the selected hypotheses on stand-ins; the recorder holds what each asked for."""
    recorder = Recorder(facts)
    budget = run_budget.active()
    forget_modules(paths)  # a suite module imported before holds the real functions: import it afresh
    out = io.StringIO()
    try:
        with tempfile.TemporaryDirectory(prefix="mechtests-plan-") as report, replaced(recorder), \
                _loading_stand_ins(recorder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = pytest.main(pytest_args(options, select, paths, report), plugins=[recorder])
    finally:
        run_budget.activate(budget)
        forget_modules(paths)  # they hold the stand-ins: a later run imports them afresh
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.INTERRUPTED):
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        raise MechtestsError(f"the dry run of the suites stopped: {lines[-1] if lines else code}", "check the paths, -k and the run options")
    if code == pytest.ExitCode.NO_TESTS_COLLECTED or not recorder.works:
        raise MechtestsError(f"no hypothesis selected{f' by -k {select!r}' if select else ''} in {' '.join(paths)}",
                             "pass a -k expression that matches some test ids (pytest --collect-only -q lists them)")
    return recorder


def forget_modules(paths: list[str]) -> None:
    """Drop the modules imported from `paths` (test files, conftest.py files, folders) from sys.modules."""
    roots = [Path(p).resolve() for p in paths]
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and any(Path(file).resolve() == root or root in Path(file).resolve().parents for root in roots):
            del sys.modules[name]


@contextlib.contextmanager
def _loading_stand_ins(recorder: Recorder) -> Iterator[None]:
    """The plugin's loader (mechtests.plugin.loading.load) gives the stand-ins."""
    original = loading.load
    loading.load = lambda config, role, path: recorder.subjects[role]  # type: ignore[assignment]
    try:
        yield
    finally:
        loading.load = original


__all__ = ["Recorder", "StandIn", "dry_run", "forget_modules", "pytest_args", "replaced"]
