"""Results do not depend on scheduling: -n 0 and -n 2 give the same results.json, apart from timings."""

from __future__ import annotations

from mechtests.testing.suite import stable_view

SUITE = '''
import mechtests
import pytest


@mechtests.hypothesis(claim="profile", expect={"mdm": "fails"})
@pytest.mark.parametrize("task", ["ioi", "countdown"])
def test_profile(subject, task):
    values = [0.1 * i for i in range(4)] if subject.kind == "arm" else [0.0] * 4
    mechtests.record("attribution by layer", values)
    mechtests.record("peak", max(values), threshold=0.2)
    assert max(values) >= 0.2


@mechtests.hypothesis(expect={"pair": "holds"})
def test_pair_overlap(pair):
    mechtests.record("overlap", 0.75, ci=(0.7, 0.8))


def test_errors(subject):
    raise RuntimeError(subject.kind)


@mechtests.hypothesis()
def test_record_only():
    mechtests.record("value", 1.0)
'''


def test_same_results_with_and_without_workers(suite) -> None:
    suite.write(test_suite=SUITE)
    assert suite.run("-n", "0").ret == 1
    serial = suite.results()
    assert suite.run("-n", "2").ret == 1
    parallel = suite.results()
    assert parallel["run"]["invocation"]["workers"] == 2
    assert stable_view(serial) == stable_view(parallel)
    assert suite.outcomes() == {
        "suite.errors": {"arm": "error", "mdm": "error"},
        "suite.pair_overlap": {"pair": "holds"},
        "suite.profile[countdown]": {"arm": "holds", "mdm": "fails"},
        "suite.profile[ioi]": {"arm": "holds", "mdm": "fails"},
        "suite.record_only": {"pair": "holds"},
    }
    nodeids = [r["nodeid"] for h in parallel["hypotheses"] for r in h["results"].values()]
    assert not [n for n in nodeids if "@" in n]  # the xdist group suffix never reaches the report


def test_each_model_loads_on_one_worker(suite, monkeypatch, tmp_path) -> None:
    log = tmp_path / "loads.txt"
    monkeypatch.setenv("MECH_LOAD_LOG", str(log))
    body = "def test_{0}(subject):\n    pass\n"
    suite.write(test_many="".join(body.format(i) for i in range(6)))
    assert suite.run("-n", "2").ret == 0
    loads = log.read_text().split("\n")[:-1]
    assert sorted(line.split()[0] for line in loads) == ["arm", "mdm"]  # 12 tests, two loads


GROUPS = """
import mechtests, os


def _log(request):
    with open(os.environ["MECH_GROUP_LOG"], "a") as fh:
        fh.write(request.node.get_closest_marker("xdist_group").kwargs["name"] + "\\n")


@mechtests.hypothesis()
def test_first(pair, request):
    _log(request)


@mechtests.hypothesis()
def test_second(pair, request):
    _log(request)


@mechtests.hypothesis()
def test_each(subject, request):
    _log(request)
"""


def test_split_pair_gives_each_hypothesis_its_own_group(suite, monkeypatch, tmp_path) -> None:
    log = tmp_path / "groups.txt"
    monkeypatch.setenv("MECH_GROUP_LOG", str(log))
    suite.write(test_g=GROUPS)
    whole = ["mechtests-arm", "mechtests-mdm", "mechtests-pair", "mechtests-pair"]
    split = ["mechtests-arm-g.each", "mechtests-mdm-g.each", "mechtests-pair-g.first", "mechtests-pair-g.second"]  # one each
    for option, groups in (("no", whole), ("yes", split)):  # auto: test_auto_split_only_when_both_models_fit_a_worker
        assert suite.run("-n", "2", f"--mech-split-pair={option}").ret == 0
        assert sorted(log.read_text().split()) == groups, option
        log.unlink()


def test_auto_split_only_when_both_models_fit_a_worker(tmp_path) -> None:
    from mechtests.run.pairs import PairPaths
    from mechtests.plugin.scheduling import SPLIT_BELOW, split_pair

    for role in ("arm", "mdm"):
        (tmp_path / role).mkdir()
        with open(tmp_path / role / "model.safetensors", "wb") as fh:
            fh.truncate(SPLIT_BELOW // 4)  # sparse: the size without the disk
    pair = PairPaths(name=None, arm=str(tmp_path / "arm"), mdm=str(tmp_path / "mdm"))
    assert split_pair("auto", pair)
    with open(tmp_path / "mdm" / "model.safetensors", "wb") as fh:
        fh.truncate(SPLIT_BELOW)
    assert not split_pair("auto", pair) and split_pair("yes", pair) and not split_pair("no", PairPaths(None, None, None))
    assert not split_pair("auto", PairPaths(name=None, arm=str(tmp_path / "nowhere"), mdm=str(tmp_path / "mdm")))
    assert not split_pair("auto", PairPaths(None, None, None))  # a pair without folders to size is kept whole
