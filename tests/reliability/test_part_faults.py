"""A part that raises is never a green report on a red run (issue #27 point 2): the
hypothesis's result is an error naming the part, under -n 2 (the part an item of its own) and
-n 0 (the hypothesis runs its parts itself), and pytest's exit status says the same."""

from __future__ import annotations

import pytest

from mechtests.testing.suite import suite  # noqa: F401 - the fixture

SUITE = '''
from functools import partial

import mechtests


def _measure(pair, *, task):
    mechtests.record(f"{task}: measured", 1.0)  # a part records nothing: dropped
    if task == "broken":
        raise RuntimeError("no activations for broken")


@mechtests.hypothesis(expect={"pair": "holds"}, parts={t: partial(_measure, task=t) for t in ("ioi", "broken")})
def test_parted(pair):
    pass  # reads nothing the part computed: its own body cannot fail


@mechtests.hypothesis(expect={"arm": "holds", "mdm": "holds"})
def test_plain(subject):
    pass
'''


@pytest.mark.parametrize("workers", [("-n", "0"), ("-n", "2", "--mech-split-pair=yes")], ids=["n0", "n2"])
def test_a_part_that_raises_makes_its_hypothesis_an_error(suite, workers) -> None:
    suite.write(test_p=SUITE)
    result = suite.run("-p", "xdist", *workers)
    assert result.ret == 1, result.stdout.str()
    by_key = {h["key"]: h["results"] for h in suite.results()["hypotheses"]}
    res = by_key["p.parted"]["pair"]
    assert res["outcome"] == "error" and res["matched"] is False
    assert "part 'broken' failed: RuntimeError: no activations for broken" in res["message"]
    assert by_key["p.plain"]["arm"]["outcome"] == "holds" and res["evidence"] == []
    assert suite.results()["totals"]["mismatched"] == 1 and suite.results()["totals"]["error"] == 1
    assert "2 as expected, 1 not, 1 error" in (suite.reports / "summary.md").read_text()
    result.stdout.fnmatch_lines(["*2 as expected, 1 not, 1 error*"])
