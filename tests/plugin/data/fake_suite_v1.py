import mechtests
import pytest


@mechtests.hypothesis(expect={"arm": "holds", "mdm": "fails"})
def test_heads(subject):
    score = 0.9 if subject.kind == "arm" else 0.1
    mechtests.record("best score", score, threshold=0.4)
    assert score >= 0.4


@mechtests.hypothesis(expect={"pair": "holds"})
def test_overlap(pair):
    mechtests.record("overlap", 0.75, ci=(0.7, 0.8))


@mechtests.hypothesis()
def test_only_arm(subject):
    if subject.kind == "mdm":
        pytest.skip("not for the mdm")
