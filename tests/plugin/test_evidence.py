"""record(): values become plain JSON-able floats and lists; mistakes are named."""

from __future__ import annotations

import contextvars

import json
import math

import numpy as np
import pytest
import torch

from mechtests.errors import MechtestsError
from mechtests.claims.evidence import collecting, describe, record


def test_tensors_and_arrays_become_plain_numbers() -> None:
    got: list[dict] = []
    with collecting(got.append):
        record("scalar", torch.tensor(0.5), ci=np.array([0.25, 0.75]), threshold=np.float32(0.4), seed=3)
        record("profile", torch.arange(3, dtype=torch.float32))
        record("heads", np.eye(2))
        record("nan", math.nan)
    assert json.loads(json.dumps(got)) == got
    assert got[0] == {"name": "scalar", "value": 0.5, "ci": [0.25, 0.75], "threshold": pytest.approx(0.4), "extra": {"seed": 3}}
    assert got[1]["value"] == [0.0, 1.0, 2.0]
    assert got[2]["value"] == [[1.0, 0.0], [0.0, 1.0]]
    assert got[3]["value"] is None
    assert describe(got[0]) == "scalar = 0.5 [0.25, 0.75] vs threshold 0.4"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x", "value": "high"}, "value must be a number, got str"),
        ({"name": "", "value": 1.0}, "needs a non-empty name"),
        ({"name": "x", "value": 1.0, "ci": (1.0,)}, r"ci must be a \(lo, hi\) pair"),
        ({"name": "x", "value": [[[1.0]]]}, "nests deeper than 2 levels"),
        ({"name": "x", "value": 1.0, "where": object()}, "is not a str, int, float or bool"),
    ],
)
def test_bad_records_are_named(kwargs, message) -> None:
    with collecting(lambda entry: None), pytest.raises(MechtestsError, match=message):
        record(**kwargs)


def test_record_outside_a_test_says_so() -> None:
    with pytest.raises(MechtestsError, match="outside a running test"):
        contextvars.Context().run(record, "x", 1.0)  # an empty context: no test's log, as outside pytest


def test_an_estimate_records_with_its_interval_seed_and_size() -> None:
    from mechtests.claims.evidence import make_entry
    from mechtests.stats import bootstrap

    est = bootstrap([0.1, 0.5, 0.9, 0.4], seed=3)
    entry = make_entry("score", est, threshold=0.4)
    assert entry["value"] == est.value and entry["ci"] == [est.lo, est.hi]
    assert entry["extra"] == {"seed": 3, "n": 4} and entry["threshold"] == 0.4
