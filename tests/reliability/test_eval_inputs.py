"""`mechtests eval`: --json is always valid JSON, and its options are checked like the plugin's."""

from __future__ import annotations

import json
import math

import pytest

from mechtests.cli import main as cli_main
from mechtests.commands.eval import to_json


def test_json_output_writes_nan_as_null() -> None:
    text = to_json({"tasks": {"countdown": {"arm": {"accuracy": 0.0, "logit_diff": math.nan}, "mdm": {"logit_diff": -math.inf}}}})
    data = json.loads(text)  # strict JSON: json.loads would take NaN, so check the text too
    assert "NaN" not in text and "Infinity" not in text
    assert data["tasks"]["countdown"]["arm"]["logit_diff"] is None and data["tasks"]["countdown"]["mdm"]["logit_diff"] is None


@pytest.mark.parametrize(("seed", "message"), [("-1", "seed must be a non-negative integer"), (str(2**40), "is above 4294967295")])
def test_a_bad_seed_is_a_usage_error(capsys, seed, message) -> None:
    assert cli_main(["eval", "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mechtests eval: error: --seed: ") and message in err
