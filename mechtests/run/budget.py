"""Run budgets: how much work a run spends on each hypothesis, as one named profile.

The paper's analysis (500 common-correct examples, top 1000 edges, EAP-IG over many steps)
is GPU work on a 7B pair; two CPU cores need a smaller run. A budget names every such number
once, travels with the run (`--mech-budget NAME`, a pair table's `budget = NAME`, or
`[tool.mechtests] budget = NAME`, in that order, as mechtests.run.settings resolves it), enters
the cache keys through the values it sets (pool sizes change the examples, steps and draws are
parameters of each entry) and is written into the report.

- `default`: the bundled pair's settings (1000 candidates, pools of 500, check pools of 200, 8
  EAP-IG steps, 200 circuit bootstrap draws, control draws from 10 up to 50, 40 property examples, K
  by the rule below, its curve at 0.5, 1, 2, 5, 10, 20, 50 and 100 % of the edges; `quick` too).
- `paper`: PAPER.md's analysis: pools of 500, K fixed at the paper's 1000 (at most the graph's
  edges), MIB's ten faithfulness-curve points, 32 EAP-IG steps, 1000 bootstrap draws.
- `quick`: what 2 CPU cores finish in minutes on a 135M model: 200 candidates per task,
  pools of 100, check pools of 50, 4 EAP-IG steps, 100 circuit bootstrap draws, 5 to 10 control
  draws (each draw is a forward pass over the pool: on SmolLM2 ~100 s on a shared CPU), 10
  property examples and no shrinking of a counterexample. Fewer draws widen the intervals, so a
  quick run says inconclusive more often rather than deciding on noise.

Every size a hypothesis in suites/ uses comes from these fields, so `quick` shrinks the whole run.

The K rule (issue #31): a circuit is sized by its faithfulness curve. Per model and task, the
normalised faithfulness of the top edges is measured at every size of `faithfulness_grid` (% of
the graph's edges, MIB's definition: mechtests.measure.curves), and K is the smallest grid size
below 100 % whose interval lies at or above `faithfulness_target` (0.8); when none does, the
largest grid size below 100 %, and the report says so (mechtests.study.circuit_size). Two models
compared edge by edge take the larger of their Ks. `fixed_k` overrides the curve (`paper`: 1000,
as the paper did). The earlier rule, the paper's share of the graph (0.32 %, at least 39 edges),
gave 142 edges of a 30-layer 135M model that recovered 0.04-0.17 of the metric.

Control draws start at `control_draws` and go on until the controls' mean is known to 10%
(mechtests.measure.ablations.CONTROL_PRECISION), at most `control_cap` draws.

A hypothesis whose task pool has fewer than `min_pool` examples is not applicable (with the
pool size): its intervals would mean nothing.

The active budget is a ContextVar, like evidence.record's sink: the plugin activates the
run's budget once, and mechtests.study reads its defaults from it, so
a hypothesis never passes it around and a library call outside a run gets `default`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator

from mechtests.errors import MechtestsError


@dataclass(frozen=True)
class Budget:
    """One named profile of run sizes.

    candidates: task examples generated per task (before any pool is drawn).
    pool_size: examples kept per pool (common-correct, or one model's own correct ones).
    min_pool: a pool below this makes its hypothesis not applicable.
    check_pool: examples of the checks that cost more per example or repeat per variant (a
        circuit's faithfulness by edge patching, the depth robustness variants' pools, a
        property test's choice of head).
    ig_steps: EAP-IG interpolation steps.
    bootstrap_draws: resamples of statistics that rebuild a circuit on every draw.
    control_draws: random control sets per targeted ablation (the first batch).
    control_cap: the most control sets an ablation draws while their mean is not yet known to 10%.
    property_examples: examples the `hypothesis` package generates per property-based claim.
    shrink: whether it then shrinks a counterexample to a minimal one (every step is a forward
        pass: on a real model, minutes that a quick run does not spend).
    faithfulness_grid: circuit sizes, in % of the graph's edges, at which a faithfulness curve is
        measured (MIB's ten points for `paper`).
    faithfulness_target: the normalised faithfulness a circuit must reach to be "the" circuit.
    fixed_k: when set, every circuit has this many edges, whatever its curve (`paper`: 1000, as
        the paper did).
    sequential: whether a measurement that feeds a verdict is made in growing rounds and stops
        once the verdict is decided (mechtests.stats.sequential), unless --mech-sequential says
        otherwise: on for `default` and `quick`, off for `paper` (the paper measured every example).
    first_round: the examples of a sequential decision's first look; later looks double it up
        to the pool (control draws follow their precision rule at every look).
    infilling_facts, countdown_operands: the difficulty of the tasks whose difficulty is a number:
        the animal-colour facts Infilling lists and the numbers Countdown gives (mechtests.tasks
        poses them in every tokenizer; a TaskSet takes the active budget's, its Draws say which).
        4 and 3 in every budget: the bundled pair's examples; on SmolLM2-135M's ARM (issue #31,
        100 examples each) fewer facts do not help (4: 0.10, 3: 0.06, 2: 0.12 correct), a fourth
        operand lowers Countdown (3: 0.25, 4: 0.21) and two would leave no choice, so `quick`
        keeps them too.
    """

    name: str
    candidates: int
    pool_size: int
    min_pool: int
    check_pool: int
    ig_steps: int
    bootstrap_draws: int
    control_draws: int
    control_cap: int
    property_examples: int
    shrink: bool
    faithfulness_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
    faithfulness_target: float = 0.8
    fixed_k: int | None = None
    sequential: bool = True
    first_round: int = 32
    infilling_facts: int = 4
    countdown_operands: int = 3

    def as_dict(self) -> dict[str, Any]:
        """Plain builtins, for results.json and cache metadata."""
        return dataclasses.asdict(self)


BUDGETS: dict[str, Budget] = {
    b.name: b
    for b in (
        Budget("default", candidates=1000, pool_size=500, min_pool=20, check_pool=200, ig_steps=8,
               bootstrap_draws=200, control_draws=10, control_cap=50, property_examples=40, shrink=True),
        Budget("paper", candidates=1000, pool_size=500, min_pool=100, check_pool=200, ig_steps=32,
               bootstrap_draws=1000, control_draws=20, control_cap=50, property_examples=40, shrink=True, fixed_k=1000, sequential=False,
               faithfulness_grid=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)),
        Budget("quick", candidates=200, pool_size=100, min_pool=20, check_pool=50, ig_steps=4,
               bootstrap_draws=100, control_draws=5, control_cap=10, property_examples=10, shrink=False),
    )
}
DEFAULT = BUDGETS["default"]

_ACTIVE: ContextVar[Budget] = ContextVar("mechtests_budget", default=DEFAULT)


def parse_budget(value: Any) -> Budget:
    """A budget by name, or a MechtestsError that lists the names."""
    if not isinstance(value, str) or value not in BUDGETS:
        raise MechtestsError(f"unknown budget {value!r}", f"use one of {', '.join(BUDGETS)}")
    return BUDGETS[value]


def with_sequential(budget: Budget, flag: bool | None) -> Budget:
    """The budget a run activates: --mech-sequential (`flag`), when given, replaces its `sequential`."""
    return budget if flag is None else dataclasses.replace(budget, sequential=flag)


def active() -> Budget:
    """The budget of the current run (`default` outside one)."""
    return _ACTIVE.get()


def activate(budget: Budget) -> None:
    """Make `budget` the active one for the rest of this context (the plugin, once per session)."""
    _ACTIVE.set(budget)


@contextlib.contextmanager
def using(budget: Budget) -> Iterator[Budget]:
    """Run a block under `budget`, restoring the previous one after it."""
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)
