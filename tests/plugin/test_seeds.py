"""Multi-seed runs (issue #12): --mech-seeds parsing, per-seed cases, and their agreement."""

from __future__ import annotations

import pytest

from mechtests.errors import MechtestsError
from mechtests.plugin import seeds
from mechtests.run.parsing import parse_seeds

SEEDED_SUITE = '''
import mechtests


@mechtests.hypothesis(expect={"arm": "holds", "mdm": "holds"})
def test_stable(subject, mech_seed):
    assert mech_seed in range(4)


@mechtests.hypothesis(expect={"pair": "holds"})
def test_wobbly(pair, mech_seed):
    assert mech_seed % 2 == 0, f"odd seed {mech_seed}"


@mechtests.hypothesis(expect={"pair": "fails"})
def test_never(pair, mech_seed):
    assert False, "never holds"


@mechtests.hypothesis(expect={"pair": "holds"})
def test_seedless(pair):
    pass
'''


def test_parse_seeds_takes_ranges_and_lists():
    assert parse_seeds("0-3") == (0, 1, 2, 3)
    assert parse_seeds("0,1,2,3") == (0, 1, 2, 3)
    assert parse_seeds("5, 0-1") == (5, 0, 1)
    assert parse_seeds([2, 7]) == (2, 7)
    for bad in ("", "3-1", "a", "1,1", "-2", "0-100", None, 1.5):
        with pytest.raises(MechtestsError, match="mech-seeds"):
            parse_seeds(bad)


def test_disagreeing_seeds_combine_to_inconclusive():
    assert seeds.combined_outcome(["fails", "fails", "fails"]) == "fails"
    assert seeds.combined_outcome(["holds", "fails", "holds", "holds"]) == "inconclusive"
    assert seeds.combined_outcome(["holds", "inconclusive"]) == "inconclusive"
    assert seeds.combined_outcome(["holds", "error"]) == "error"


def test_combine_folds_per_seed_entries():
    def entry(variant, outcome):
        return {"key": f"h[{variant}]", "id": "h", "variant": variant, "file": "f",
                "results": {"pair": {"outcome": outcome, "expected": "holds", "matched": outcome == "holds", "evidence": []}}}

    combined = seeds.combine([entry("ioi-seed0", "holds"), entry("ioi-seed1", "holds"), entry("seed1", "fails"),
                              entry("seed0", "holds"), {"key": "plain", "id": "plain", "variant": None, "results": {}}])
    by_key = {h["key"]: h for h in combined}
    assert set(by_key) == {"h[ioi]", "h", "plain"}
    ioi = by_key["h[ioi]"]["results"]["pair"]
    assert ioi["outcome"] == "holds" and ioi["matched"] and ioi["agreement"]
    wobbly = by_key["h"]["results"]["pair"]
    assert wobbly["outcome"] == "inconclusive" and not wobbly["agreement"] and not wobbly["matched"]
    assert [(s["seed"], s["outcome"]) for s in wobbly["seeds"]] == [(0, "holds"), (1, "fails")]


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_each_hypothesis_runs_at_every_seed(suite, workers):
    suite.write(test_seeded=SEEDED_SUITE)
    result = suite.run("--mech-seeds=0-3", "-p", "xdist", *workers)
    results = suite.results()
    assert results["run"]["seeds"] == [0, 1, 2, 3]
    combined = {h["key"]: h for h in results["hypotheses"]}
    assert set(combined) == {"seeded.stable", "seeded.wobbly", "seeded.never", "seeded.seedless"}
    stable = combined["seeded.stable"]["results"]
    assert stable["arm"]["outcome"] == stable["mdm"]["outcome"] == "holds" and stable["arm"]["agreement"]
    wobbly = combined["seeded.wobbly"]["results"]["pair"]
    assert [s["outcome"] for s in wobbly["seeds"]] == ["holds", "fails", "holds", "fails"]
    assert not wobbly["agreement"] and wobbly["outcome"] == "inconclusive"
    assert "test_wobbly --mech-seed 0" in wobbly["rerun"]  # the lowest seed's case, as a single-seed run reruns it
    assert combined["seeded.never"]["results"]["pair"]["outcome"] == "fails"
    assert result.ret == 1  # the odd seeds of test_wobbly fail its expectation
    page, summary = (suite.reports / "report.html").read_text(), (suite.reports / "summary.md").read_text()
    for text in (page, summary, result.stdout.str()):
        assert "seed-dependent: holds at 0, 2; fails at 1, 3" in text
    assert page.count("<span class='seeds'>same at seeds 0-3</span>") == 3 and "ran once (takes no seed)" in summary


def test_per_seed_node_ids_rerun_at_their_seed():
    assert seeds.single_seed("t.py::test_x[arm-seed2]", 0) == ("t.py::test_x[arm]", 2)
    assert seeds.single_seed("t.py::test_x[seed12]", 0) == ("t.py::test_x", 12)
    assert seeds.single_seed("t.py::test_x[ioi-seed1-arm]", 5) == ("t.py::test_x[ioi-arm]", 1)
    assert seeds.single_seed("t.py::test_x[arm]", 5) == ("t.py::test_x[arm]", 5)
    assert seeds.single_seed("t.py::test_x", 5) == ("t.py::test_x", 5)


def test_a_bad_seed_list_is_a_usage_error(suite):
    suite.write(test_seeded=SEEDED_SUITE)
    result = suite.run("--mech-seeds=3-1")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--mech-seeds*must be a range like 0-3*e.g. --mech-seeds=0-3*"])
