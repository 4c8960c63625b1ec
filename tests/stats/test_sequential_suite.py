"""--mech-sequential in a run (issue #26): the flag, else the budget, decides whether an estimate
is measured in rounds, and the report says which look decided it. A small suite on the fake pair
runs in a pytest subprocess."""

from __future__ import annotations

import pytest

from mechtests.testing.suite import suite  # noqa: F401 - the fixture

SUITE = '''
import numpy as np
import mechtests
from mechtests.stats import bootstrap, sequential

VALUES = np.random.default_rng(0).normal(1.0, 1.0, size=500)

@mechtests.hypothesis(expect={"pair": "holds"})
def test_clear(mech_budget):
    est = sequential.grown(lambda n: bootstrap(VALUES[:n], name="mean"), len(VALUES))
    assert est >= 0.2
'''


@pytest.mark.parametrize(("args", "rounds"), [
    ((), True), (("--mech-sequential=off",), False), (("--mech-budget", "paper"), False),
    (("--mech-budget", "paper", "--mech-sequential", "on"), True),
])
def test_the_flag_else_the_budget_decides_and_the_report_says_which_look(suite, args: tuple[str, ...], rounds: bool) -> None:
    suite.write(test_e=SUITE)
    result = suite.run(*args)
    assert result.ret == 0, result.stdout.str()
    (hyp,) = suite.results()["hypotheses"]
    (ev,) = hyp["results"]["pair"]["evidence"]
    assert hyp["results"]["pair"]["outcome"] == "holds"
    if rounds:
        assert ev["extra"]["sequential"].startswith("decided at look 1 of 4: n=64 of 500") and ev["extra"]["n"] == 64
    else:
        assert "sequential" not in ev["extra"] and ev["extra"]["n"] == 500


def test_a_bad_value_is_a_usage_error_naming_the_flag(suite) -> None:
    suite.write(test_e=SUITE)
    assert "--mech-sequential" in suite.usage_error("--mech-sequential=maybe")
