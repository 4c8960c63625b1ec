"""The transformers-4.x compatibility layer: one test per breakage it handles, each exercising it the
way 4.x-era remote code does, and showing that without the layer that code fails."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.models.compat import gguf_parsed_once, remote_code_compat, restore_computed_buffers
from standins import build_standin

OLD_CODE = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel


class OldConfig(PretrainedConfig):
    model_type = "old4x"

    def __init__(self, vocab_size=10, hidden_size=4, num_attention_heads=2, rope_theta=10000.0, **kwargs):
        self.vocab_size, self.hidden_size, self.num_attention_heads, self.rope_theta = vocab_size, hidden_size, num_attention_heads, rope_theta
        super().__init__(**kwargs)


class OldListTied(PreTrainedModel):
    config_class = OldConfig
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids):
        return self.lm_head(self.embed(input_ids))


class OldOwnTie(OldListTied):
    _tied_weights_keys = None

    def tie_weights(self):
        self.lm_head.weight = self.embed.weight
'''
_count = itertools.count()


def _import_old(tmp_path: Path):
    """Define the 4.x-era classes afresh (as transformers does when it imports a checkpoint's code)."""
    path = tmp_path / f"old_modeling_{next(_count)}.py"
    path.write_text(OLD_CODE)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _round_trip(cls, config, folder: Path):  # noqa: ANN202 - a model of `cls`
    cls(config).save_pretrained(folder)
    return cls.from_pretrained(folder)


def test_1_rope_init_functions_default_entry():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    class Config:
        hidden_size, num_attention_heads, rope_theta = 8, 2, 100.0

    assert "default" not in ROPE_INIT_FUNCTIONS  # transformers 5 removed it
    with remote_code_compat():
        inv_freq, scaling = ROPE_INIT_FUNCTIONS["default"](Config(), None)
    assert scaling == 1.0
    torch.testing.assert_close(inv_freq, torch.tensor([1.0, 0.1]))
    assert "default" not in ROPE_INIT_FUNCTIONS  # restored afterwards


def _ships_attn_mask_utils() -> bool:
    """transformers 5.0-5.24 removed the module; 5.25 brought it back, deprecated."""
    return importlib.util.find_spec("transformers.modeling_attn_mask_utils") is not None


def test_2_modeling_attn_mask_utils_import():
    statement = "from transformers.modeling_attn_mask_utils import AttentionMaskConverter"
    scope: dict = {}
    if _ships_attn_mask_utils():  # the layer leaves transformers' own module alone
        with remote_code_compat():
            exec(statement, scope)
        assert getattr(sys.modules["transformers.modeling_attn_mask_utils"], "__file__", None)
        assert scope["AttentionMaskConverter"].__module__ == "transformers.modeling_attn_mask_utils"
        return
    with pytest.raises(ImportError):
        exec(statement, {})
    with remote_code_compat():
        exec(statement, scope)
    with pytest.raises(RuntimeError, match="removed"):
        scope["AttentionMaskConverter"](is_causal=True)


def test_3_tie_weights_override_without_keywords(tmp_path):
    with remote_code_compat():
        fixed = _import_old(tmp_path)
    fixed.OldListTied(fixed.OldConfig(tie_word_embeddings=False)).save_pretrained(tmp_path / "saved")
    plain = _import_old(tmp_path)
    with pytest.raises(TypeError):
        plain.OldOwnTie.from_pretrained(tmp_path / "saved")
    model = fixed.OldOwnTie.from_pretrained(tmp_path / "saved")
    assert model.lm_head.weight is model.embed.weight


def test_4_tied_weights_keys_as_a_list(tmp_path):
    old = _import_old(tmp_path)
    with pytest.raises(AttributeError):
        _round_trip(old.OldListTied, old.OldConfig(tie_word_embeddings=True), tmp_path / "plain")
    with remote_code_compat():
        old = _import_old(tmp_path)
    model = _round_trip(old.OldListTied, old.OldConfig(tie_word_embeddings=True), tmp_path / "compat")
    assert model.lm_head.weight.data_ptr() == model.embed.weight.data_ptr()


def test_the_layer_leaves_transformers_as_it_found_it():
    from transformers.modeling_utils import PreTrainedModel

    before = PreTrainedModel.__dict__["__init_subclass__"]
    with remote_code_compat():
        pass
    assert PreTrainedModel.__dict__["__init_subclass__"] is before
    left = sys.modules.get("transformers.modeling_attn_mask_utils")
    assert left is None or getattr(left, "__file__", None), "the stand-in module outlived the block"


ROTARY_CODE = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel


class RotaryConfig(PretrainedConfig):
    model_type = "old4x-rotary"

    def __init__(self, d_head=8, **kwargs):
        self.d_head = d_head
        super().__init__(**kwargs)


class Rotary(nn.Module):
    def __init__(self, d_head):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / 10000.0 ** (torch.arange(0, d_head, 2).float() / d_head), persistent=False)


class OldRotary(PreTrainedModel):
    config_class = RotaryConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Linear(config.d_head, config.d_head)
        self.rotary = Rotary(config.d_head)
        self.post_init()
'''


def test_5_non_persistent_buffers_get_the_values_init_computes(tmp_path):
    """transformers#48892: loading leaves non-persistent buffers as uninitialised memory (which
    may happen to hold anything); restore_computed_buffers gives them __init__'s values back."""
    path = tmp_path / "old_rotary.py"
    path.write_text(ROTARY_CODE)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    with remote_code_compat():
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        module.OldRotary(module.RotaryConfig()).save_pretrained(tmp_path / "saved")
        model = module.OldRotary.from_pretrained(tmp_path / "saved")
    expected = 1.0 / 10000.0 ** (torch.arange(0, 8, 2).float() / 8)
    model.rotary.inv_freq.fill_(float("nan"))  # what uninitialised memory may hold
    proj = model.proj.weight.clone()
    assert restore_computed_buffers(model) == ["rotary.inv_freq"]
    assert torch.equal(model.rotary.inv_freq, expected) and torch.equal(model.proj.weight, proj)
    assert restore_computed_buffers(model) == []  # right values are left alone


def test_5_a_remote_code_standin_loads_with_its_rope_frequencies(tmp_path):
    subject = mechtests.load_subject(build_standin("llada", tmp_path / "llada"), trust_remote_code=True)
    (inv_freq,) = [b for n, b in subject.model.named_buffers() if n.endswith("inv_freq")][:1]
    d_head = subject.d_head
    assert torch.allclose(inv_freq, 1.0 / subject.model.config.rope_theta ** (torch.arange(0, d_head, 2).float() / d_head))


@pytest.mark.extras
def test_a_gguf_file_is_parsed_once_per_load(tmp_path, monkeypatch):
    gguf = pytest.importorskip("gguf", reason="the gguf extra: pip install -e .[gguf]")
    built = []
    monkeypatch.setattr(gguf, "GGUFReader", lambda path, mode="r": built.append(str(path)) or object())
    plain_reader, plain_table = gguf.GGUFReader, gguf.get_tensor_name_map
    with gguf_parsed_once():
        first, again, other = gguf.GGUFReader(tmp_path / "m.gguf"), gguf.GGUFReader(tmp_path / "m.gguf"), gguf.GGUFReader(tmp_path / "n.gguf")
        assert first is again and other is not first and built == [str(tmp_path / "m.gguf"), str(tmp_path / "n.gguf")]
        table = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is table and table.get_name("model.layers.1.self_attn.q_proj") == "blk.1.attn_q"
        with gguf_parsed_once():  # nested (a load inside a load): the outer block's reader survives it
            assert gguf.GGUFReader(tmp_path / "m.gguf") is first
        assert gguf.GGUFReader(tmp_path / "m.gguf") is first and len(built) == 2
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (plain_reader, plain_table)  # released: the next load parses afresh
    with gguf_parsed_once(active=False):
        assert gguf.GGUFReader is plain_reader
