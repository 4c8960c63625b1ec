"""The recipe in fixtures/build_pair.py: the same seed gives the same weights, byte for byte."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "fixtures" / "build_pair.py"


def _recipe():
    spec = importlib.util.spec_from_file_location("build_pair", RECIPE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_pair"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    recipe = _recipe()
    short = ["--arm-steps", "12", "--mdm-steps", "8", "--anneal-steps", "4", "--warmup-steps", "4",
             "--eval-n", "20", "--log-every", "4", "--d-model", "64", "--d-mlp", "128"]
    cards = []
    for run in ("a", "b", "c"):
        seed = "1" if run == "c" else "0"
        assert recipe.main(["--seed", seed, "--out", str(tmp_path / run), *short]) == 0
        cards.append(json.loads((tmp_path / run / "card.json").read_text()))
    assert cards[0]["sha256"] == cards[1]["sha256"]
    assert cards[0]["loss_curve"] == cards[1]["loss_curve"]
    assert cards[0]["sha256"] != cards[2]["sha256"]
    mdm = json.loads((tmp_path / "a" / "mdm" / "config.json").read_text())
    assert mdm["mechtests"] == {"kind": "mdm", "mask_token_id": 4, "prediction": "shifted"}
    assert mdm["is_causal"] is False
