"""`mechtests plan`: estimates before a run, and cache status that matches the keys the suites use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mechtests
from mechtests import study
from mechtests.run import budget
from mechtests.cli import main
from mechtests.tasks import TaskSet

PAIR = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair"
pytestmark = pytest.mark.skipif(not (PAIR / "arm" / "config.json").is_file(), reason="fixtures/tiny-pair is not built")


def _plan(capsys, *extra: str) -> dict:
    assert main(["plan", "--pair", "tiny", "--mech-budget", "quick", "--threads", "1", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_prints_passes_time_and_memory_for_every_task_and_model(isolated_cache, capsys):
    assert main(["plan", "--pair", "tiny", "--mech-budget", "quick", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "to compute: 20 of 20 measurements (0 cached)" in text and "peak memory about" in text and "GFLOP/s (measured now)" in text
    report = _plan(capsys)
    assert report["device"] == "cpu" and report["dtype"] == "float32" and report["budget"] == "quick"
    for line in report["lines"]:
        assert line["passes"] >= 1 and line["seconds"] > 0 and line["peak_bytes"] > 0 and line["rows_forward"] > 0
        assert line["rows_backward"] == (0 if line["measurement"].startswith("correct") else 4 * line["rows_forward"] // 2)


def test_plan_sees_what_the_study_cached_under_the_same_keys(isolated_cache, capsys):
    arm, mdm = (mechtests.load_subject(PAIR / kind) for kind in ("arm", "mdm"))
    quick = budget.BUDGETS["quick"]
    examples = TaskSet(arm.tokenizer, n=quick.candidates, seed=0)["ioi"]
    with budget.using(quick):
        pool = study.common_pool(arm, mdm, "ioi", examples)
        study.attribution(arm, "ioi", pool)
    lines = {(line["measurement"].split()[0], line["model"]): line for line in _plan(capsys)["lines"] if line["task"] == "ioi"}
    assert lines["correct", "arm"]["cached"] == lines["correct", "mdm"]["cached"] == "yes"
    assert lines["eap-ig", "arm"]["cached"] == "yes" and lines["eap-ig", "mdm"]["cached"] == "no"
    assert lines["eap-ig", "arm"]["rows_forward"] == 2 * len(pool)
    others = [line for line in _plan(capsys)["lines"] if line["task"] != "ioi"]
    assert {line["cached"] for line in others} == {"no", "?"}


def test_plan_rejects_a_bad_device_with_the_options_choices(isolated_cache, capsys):
    assert main(["plan", "--pair", "tiny", "--mech-device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "mechtests plan: error: --mech-device: unknown device 'gpu'; pass --mech-device auto, cpu, cuda or cuda:N" in err
