"""Copying as a rate (issue #31 point 3): "copies at least 90% of generated spans" is judged on the
rate's bootstrap interval, and a rate whose interval straddles the bar is inconclusive, not a
verdict either way. Small synthetic rates, no model; the bar is the suite's own."""

from __future__ import annotations

import numpy as np

from mechtests.claims.outcomes import FAILS, HOLDS, INCONCLUSIVE
from mechtests.stats import bootstrap, decide
from mechtests.testing.suite import suite  # noqa: F401 - the fixture

from copying_suite import load

BAR = load().BAR


def spans(copied: int, of: int) -> np.ndarray:
    """Per-span outcomes: 1 for a copied span, 0 for a missed one."""
    return np.array([1.0] * copied + [0.0] * (of - copied))


def test_a_copying_rate_holds_above_its_bar_fails_below_and_straddling_is_inconclusive():
    assert BAR == 0.9
    assert decide(bootstrap(spans(40, 40), seed=0), ">=", BAR).verdict == HOLDS
    straddling = bootstrap(spans(36, 40), seed=0)
    assert straddling.lo < BAR < straddling.hi and straddling.value == BAR
    assert decide(straddling, ">=", BAR).verdict == INCONCLUSIVE
    assert decide(bootstrap(spans(9, 10), seed=0), ">=", BAR).verdict == INCONCLUSIVE  # the quick budget's 10 spans
    assert decide(bootstrap(spans(24, 40), seed=0), ">=", BAR).verdict == FAILS


def test_a_straddling_copying_rate_makes_the_hypothesis_inconclusive(suite) -> None:
    suite.write(test_rate=f'''
import numpy as np
import mechtests
from mechtests.stats import bootstrap

@mechtests.hypothesis(claim="copies at least 90% of generated spans", expect={{"pair": "holds"}})
def test_copying_rate():
    copied = np.array([1.0] * 36 + [0.0] * 4)
    assert bootstrap(copied, name="spans copied") >= {BAR}
''')
    result = suite.run()
    assert result.ret == 0, result.stdout.str()  # inconclusive against an expected holds: a warning, not a failure
    (hypothesis,) = suite.results()["hypotheses"]
    pair = hypothesis["results"]["pair"]
    assert pair["outcome"] == INCONCLUSIVE
    assert "spans copied: 0.9 [" in pair["message"] and "straddling the bar 0.9" in pair["message"]
    (evidence,) = pair["evidence"]
    assert evidence["name"] == "spans copied" and evidence["threshold"] == BAR and evidence["ci"][0] < BAR < evidence["ci"][1]
