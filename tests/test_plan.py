"""`mechtests plan`: per-hypothesis estimates from the suites' own code, `-k` as pytest takes it,
cache status under the keys the suites use, and a throughput kept once per machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

import mechtests
from mechtests import study
from mechtests.cli import main
from mechtests.commands.plan_models import read_model
from mechtests.run import budget, throughput
from mechtests.tasks import TaskSet
from mechtests.testing.checkpoints import tiny_config, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
PAIR = ROOT / "fixtures" / "tiny-pair"
SUITES = str(ROOT / "suites")
pytestmark = pytest.mark.skipif(not (PAIR / "arm" / "config.json").is_file(), reason="fixtures/tiny-pair is not built")


def _plan(capsys, *extra: str) -> dict:
    assert main(["plan", "--pair", "tiny", "--mech-budget", "quick", "--threads", "1", "--json", *extra, SUITES]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_gives_each_selected_hypothesis_its_measurements_time_and_memory(isolated_cache, capsys):
    report = _plan(capsys, "-k", "heads_present or arm_more_specialized or front_loads_global_tasks")
    assert set(report["hypotheses"]) == {
        "suites/test_heads.py::test_induction_heads_present[arm]", "suites/test_heads.py::test_induction_heads_present[mdm]",
        "suites/test_heads.py::test_previous_token_heads_present[arm]", "suites/test_heads.py::test_previous_token_heads_present[mdm]",
        "suites/test_specialization.py::test_arm_more_specialized", "suites/test_depth.py::test_mdm_front_loads_global_tasks"}
    special = report["hypotheses"]["suites/test_specialization.py::test_arm_more_specialized"]
    kinds = {(line["measurement"], line["model"]) for line in special["lines"]}
    assert {("scores (answers)", "arm"), ("scores (answers)", "mdm"), ("eap-ig (EAP-IG)", "arm"), ("logit lens", "mdm")} <= kinds
    quick = budget.BUDGETS["quick"]
    eap = [line for line in special["lines"] if line["measurement"] == "eap-ig (EAP-IG)" and line["model"] == "arm"]
    assert eap and all(line["rows_forward_backward"] == quick.ig_steps * line["examples"] for line in eap)
    for h in report["hypotheses"].values():
        assert h["seconds"] > 0 and h["partly_counted"] is None
        assert all(line["passes"] >= 1 and line["peak_bytes"] > 0 for line in h["lines"])
        assert h["seconds_first_look"] <= h["seconds"]  # quick decides sequentially: the likely figure, then the bound
    alone = sum(h["seconds"] for h in report["hypotheses"].values())  # the two pair hypotheses share every EAP-IG: counted once
    assert report["sequential"] and report["total"]["seconds"] < alone - report["hypotheses"]["suites/test_depth.py::test_mdm_front_loads_global_tasks"]["seconds"] / 2


def test_plan_sees_what_the_study_cached_under_the_same_keys(isolated_cache, capsys):
    arm, mdm = (mechtests.load_subject(PAIR / kind) for kind in ("arm", "mdm"))
    quick = budget.BUDGETS["quick"]
    examples = TaskSet(arm.tokenizer, n=quick.candidates, seed=0)["ioi"]
    with budget.using(quick):
        pool = study.common_pool(arm, mdm, "ioi", examples)
        study.attribution(arm, "ioi", pool)
    lines = _plan(capsys, "-k", "arm_more_specialized")["hypotheses"]["suites/test_specialization.py::test_arm_more_specialized"]["lines"]
    ioi = {(line["measurement"], line["model"]): line for line in lines if line["task"] == "ioi"}
    assert ioi["scores", "arm"]["cached"] and ioi["scores", "mdm"]["cached"] and ioi["eap-ig", "arm"]["cached"]
    assert not ioi["eap-ig (EAP-IG)", "mdm"]["cached"] and ioi["eap-ig (EAP-IG)", "mdm"]["examples"] == len(pool)
    assert ioi["eap-ig", "arm"]["seconds"] == 0 and ioi["eap-ig (EAP-IG)", "mdm"]["seconds"] > 0


def test_plan_prints_a_table_and_keeps_the_throughput_until_asked_to_measure_again(isolated_cache, capsys):
    assert main(["plan", "--pair", "tiny", "--mech-budget", "quick", "--threads", "1", "-k", "induction_heads_present", SUITES]) == 0
    text = capsys.readouterr().out
    assert "suites/test_heads.py::test_induction_heads_present[arm]" in text and "the run: 2 test(s)" in text and "(measured now)" in text
    kept = (isolated_cache / throughput.FILE).read_text()
    assert "kept, measured" in (main(["plan", "--pair", "tiny", "--threads", "1", "-k", "induction_heads_present", SUITES]), capsys.readouterr().out)[1]
    assert (isolated_cache / throughput.FILE).read_text() == kept
    assert main(["plan", "--pair", "tiny", "--threads", "1", "--measure", "-k", "induction_heads_present", SUITES]) == 0
    assert "(measured now)" in capsys.readouterr().out


def test_plan_says_when_k_selects_nothing(isolated_cache, capsys):
    assert main(["plan", "--pair", "tiny", "--threads", "1", "-k", "no_such_hypothesis", SUITES]) == 2
    err = capsys.readouterr().err
    assert "no hypothesis selected by -k 'no_such_hypothesis'" in err and err.count("\n") == 1


def test_plan_rejects_a_bad_device_with_the_options_choices(isolated_cache, capsys):
    assert main(["plan", "--pair", "tiny", "--mech-device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "mechtests plan: error: --mech-device: unknown device 'gpu'; pass --mech-device auto, cpu, cuda or cuda:N" in err


class _Paths:
    """What read_model asks of a pair's paths: one folder, loaded as an ARM."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, role: str) -> Path:
        return self.folder

    def load_options(self, role: str) -> dict:
        return {"kind": "arm"}


@pytest.mark.parametrize("tied", [True, False])
def test_the_output_head_multiplies_every_token_whether_or_not_it_is_tied(tmp_path, tied):
    """Read from the safetensors headers and from the loaded modules, the FLOP-bearing parameters
    are all but the input embedding, with the head counted once (a tied head stores no tensor of its own)."""
    config = tiny_config("llama", vocab_size=len(tiny_tokenizer()) + 7)  # no other tensor of the embedding's shape
    config.tie_word_embeddings = tied
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    facts = read_model("arm", _Paths(tmp_path), torch.device("cpu"), "float32")
    embed = model.get_input_embeddings().weight.numel()
    assert facts.n_params == sum(p.numel() for p in model.parameters())
    assert facts.matmul_params == facts.n_params - embed + (embed if tied else 0)
