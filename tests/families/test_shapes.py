"""One reader of a model's sizes for every family (mechtests.models.shape): the Subject, the pair
consistency check and the planner read LLaDA's n_layers / n_heads / d_model as they read Llama's
num_hidden_layers / num_attention_heads / hidden_size and GPT-2's n_layer / n_head / n_embd."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from mechtests.run import batching
from mechtests.commands.plan_models import read_model
from mechtests.errors import MechtestsError
from mechtests.models.shape import ConfigShape
from mechtests.run.pairs import PairPaths, resolve_pair
from mechtests.tasks.consistency import check_pair
from standins import EXPECTED, STANDINS

# What standins.py builds: every stand-in has d_model 32 and 4 heads of size 8; DiffuCoder has 3
# layers and 1 key/value head, Dream 2; DiffuGPT sets no MLP width (GPT-2's default, 4 * 32).
LAYERS = {"diffucoder": 3}
KV_HEADS = {"dream": 2, "diffucoder": 1}
D_MLP = {"diffugpt-s": 128, "diffugpt-m": 128}


def _expected(name: str) -> dict[str, int]:
    return {"n_layers": LAYERS.get(name, 2), "n_heads": 4, "n_kv_heads": KV_HEADS.get(name, 4), "d_model": 32,
            "d_mlp": D_MLP.get(name, 64), "d_head": 8}


@pytest.mark.parametrize("name", STANDINS)
def test_sizes_are_read_whatever_the_family_calls_them(standin_paths, standins, name):
    raw = json.loads((standin_paths[name] / "config.json").read_text())
    subject = standins(name)
    for config in (raw, subject.model.config):  # config.json as parsed, and the loaded config object
        shape = ConfigShape.of(config)
        assert {size: getattr(shape, size) for size in _expected(name)} == _expected(name), config
    assert (subject.n_layers, subject.n_heads, subject.n_kv_heads, subject.d_model, subject.d_mlp, subject.d_head) == tuple(
        _expected(name).values())
    assert subject.embed_module().weight.shape[1] == subject.d_model  # the modules agree with the config


@pytest.mark.parametrize("name", STANDINS)
def test_the_planner_reads_the_same_shape_as_the_loaded_model(standins, standin_paths, name):
    subject = standins(name)
    pair = PairPaths(name=None, arm=None, mdm=str(standin_paths[name]), options={"mdm": EXPECTED[name][3]})
    planned = read_model("mdm", pair, torch.device("cpu"), "float32").shape
    loaded = batching.ModelShape.of(subject)
    assert (planned.n_layers, planned.n_heads, planned.d_model, planned.d_mlp) == (
        loaded.n_layers, loaded.n_heads, loaded.d_model, loaded.d_mlp)


def _llada_copy(standin_paths, tmp_path, suffix: str, **changes) -> str:
    """The LLaDA stand-in's config and tokenizer (no weights: the check reads none), with `changes`."""
    folder = tmp_path / f"llada-{os.getpid()}-{suffix}"  # a name of its own: see conftest.standin_paths
    shutil.copytree(standin_paths["llada"], folder, ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_a_llada_pair_that_differs_in_layers_is_refused(standin_paths, tmp_path):
    trusted = {"trust_remote_code": True}
    same = resolve_pair({}, tmp_path, arm=str(standin_paths["llada"]), mdm=_llada_copy(standin_paths, tmp_path, "same"))
    check_pair(same, {"arm": trusted, "mdm": trusted}, n=20, seed=0)  # raises on a difference
    deeper = resolve_pair({}, tmp_path, arm=str(standin_paths["llada"]), mdm=_llada_copy(standin_paths, tmp_path, "deeper", n_layers=3))
    with pytest.raises(MechtestsError, match=r"differ in n_layers \(num_hidden_layers / n_layer / n_layers\): ARM 2, MDM 3"):
        check_pair(deeper, {"arm": trusted, "mdm": trusted}, n=20, seed=0)
    wider = resolve_pair({}, tmp_path, arm=str(standin_paths["llada"]), mdm=_llada_copy(standin_paths, tmp_path, "wider", d_model=64))
    with pytest.raises(MechtestsError, match=r"differ in d_model .*: ARM 32, MDM 64"):
        check_pair(wider, {"arm": trusted, "mdm": trusted}, n=20, seed=0)


def test_a_config_without_a_size_is_a_one_line_error_naming_its_keys():
    with pytest.raises(MechtestsError, match="sets none of num_attention_heads, n_head, n_heads") as info:
        ConfigShape.of({"hidden_size": 32}).need("n_heads")
    assert "\n" not in str(info.value)
