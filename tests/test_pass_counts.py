"""The plan's counts against the rows a real run sends through the models (issue #26, points 2
and 3), hypothesis by hypothesis, on the bundled pair.

Each selected hypothesis runs alone with pytest, cold (an empty cache of its own), with a hook
on each model's forward that counts the rows of every pass and whether it ran with gradients
(EAP-IG's forward+backward passes). `mechtests plan` counts the same hypotheses, cold, by its
dry run. With sequential decisions off the counts must be equal: every measurement runs its
whole sample, and the plan declares each function's rows from its arguments. One thing the
plan cannot know without the models is data: an ablation's control draws stop once their mean
is known to 10% (at most the budget's cap, which the plan counts), and its targets (the heads
a detector found) decide how many caching passes the control sets need; a faithfulness curve
patches the circuits that coincide under its two rankings once, and which coincide depends on
the scores (the plan's stand-in scores make none coincide). So a hypothesis with an ablation or
a curve is held to its bound: forward rows at most the plan's, forward+backward rows equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mechtests.cli import main
from mechtests.commands.plan_dryrun import forget_modules
from mechtests.plugin import loading
from mechtests.run import budget as run_budget
from mechtests.run import cache

ROOT = Path(__file__).resolve().parents[1]
PAIR = ROOT / "fixtures" / "tiny-pair"
SUITES = str(ROOT / "suites")
OPTIONS = ["--mech-pair", "tiny", "--mech-budget", "quick", "--mech-sequential", "off"]
SELECT = "heads_present or arm_more_specialized or task_circuits_are_faithful or induction_heads_are_causal or copies_repeated_spans"
DATA_DEPENDENT = ("ablation", "intervened", "activations", "curve")  # measurements whose count the plan bounds
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (PAIR / "arm" / "config.json").is_file(), reason="fixtures/tiny-pair is not built")]


class RowCounter:
    """Rows through each loaded model's forward, per test id: (forward only, with gradients)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}
        self.test = ""

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.test = item.nodeid
        self.rows.setdefault(item.nodeid, [0, 0])

    def hook(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        x = kwargs.get("input_ids")
        x = kwargs.get("inputs_embeds") if x is None else x
        x = args[0] if x is None else x
        self.rows[self.test][int(torch.is_grad_enabled())] += int(x.shape[0])


def _measured(test_id: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Run one hypothesis cold and count its rows."""
    counter, load = RowCounter(), loading.load

    def counted(config, role, path):
        subject = load(config, role, path)
        subject.model.register_forward_pre_hook(counter.hook, with_kwargs=True)
        return subject

    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(folder / "cache"))
    monkeypatch.setattr(loading, "load", counted)
    cache.clear_memory()
    budget = run_budget.active()
    forget_modules([SUITES])
    try:
        pytest.main([f"{ROOT}/{test_id}", *OPTIONS, "-q", "-p", "no:cacheprovider", "-p", "no:anyio", "-n", "0",
                     "--mech-report", str(folder / "report")], plugins=[counter])
    finally:
        forget_modules([SUITES])
        run_budget.activate(budget)
        cache.clear_memory()
    fwd, bwd = counter.rows.get(test_id, [0, 0])
    return fwd, bwd


def test_the_plan_counts_the_rows_each_hypothesis_sends_through_the_models(isolated_cache, tmp_path, capsys, monkeypatch):
    assert main(["plan", *OPTIONS, "-k", SELECT, "--threads", "1", "--json", SUITES]) == 0
    planned = json.loads(capsys.readouterr().out)["hypotheses"]
    assert len(planned) >= 8 and not any(h["partly_counted"] for h in planned.values()), planned.keys()
    compared = []
    for number, (test_id, plan) in enumerate(planned.items()):
        fwd, bwd = _measured(test_id, tmp_path / str(number), monkeypatch)
        bounded = any(word in line["measurement"] for line in plan["lines"] for word in DATA_DEPENDENT)
        compared.append((test_id, (fwd, bwd), (plan["rows_forward"], plan["rows_forward_backward"]), bounded))
    capsys.readouterr()
    for test_id, measured, bound, bounded in compared:
        assert measured[0] > 0, f"{test_id}: no rows measured"
        if bounded:
            assert measured[1] == bound[1] and measured[0] <= bound[0], (test_id, measured, bound)
        else:
            assert measured == bound, (test_id, measured, bound)
