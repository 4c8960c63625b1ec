"""Tiny stand-ins for the seven published MDM checkpoints, built into tmp folders at test time.

Each reproduces its family's config keys, weight names and module tree (checked against the
facts below, taken from the families' published config.json files and weight maps) at a size
that runs in milliseconds. The remote-code families get this project's own modeling files
(tests/families/remote/), loaded through auto_map with trust_remote_code=True exactly as a
user's folder would be. Weights are random with unit-scale rows, so that clean and corrupted
inputs differ by more than one logit.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from mechtests.models.compat import remote_code_compat
from mechtests.testing.checkpoints import tiny_tokenizer

REMOTE = Path(__file__).parent / "remote"
STANDINS = ("dream", "diffucoder", "llada", "llada-fused", "diffullama", "diffugpt-s", "diffugpt-m")

# name -> (family, kind, prediction, what load_subject needs beyond the path)
EXPECTED: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "dream": ("dream", "mdm", "shifted", {"trust_remote_code": True}),
    "diffucoder": ("dream", "mdm", "shifted", {"trust_remote_code": True}),
    "llada": ("llada", "mdm", "same-position", {"trust_remote_code": True}),
    "llada-fused": ("llada", "mdm", "same-position", {"trust_remote_code": True}),
    "diffullama": ("diffullama", "mdm", "shifted", {"kind": "mdm"}),
    "diffugpt-s": ("diffugpt", "mdm", "shifted", {}),
    "diffugpt-m": ("diffugpt", "mdm", "shifted", {}),
}

# Facts from the published checkpoints: config keys each family's config.json carries, and the
# pattern every weight name follows (Dream-org/Dream-v0-Base-7B, apple/DiffuCoder-7B-Base,
# GSAI-ML/LLaDA-8B-Base, HKUNLP/diffullama, HKUNLP/diffugpt-s, HKUNLP/diffugpt-m).
PUBLISHED_KEYS = {
    "dream": {"model_type", "architectures", "auto_map", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "rope_theta", "rms_norm_eps", "mask_token_id",
              "tie_word_embeddings", "vocab_size"},
    "llada": {"model_type", "architectures", "auto_map", "d_model", "n_heads", "n_kv_heads", "n_layers",
              "mlp_hidden_size", "vocab_size", "embedding_size", "mask_token_id", "rope_theta", "block_type",
              "include_bias", "weight_tying", "rms_norm_eps"},
    "llama": {"model_type", "architectures", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "vocab_size"},
    "gpt2": {"model_type", "architectures", "n_embd", "n_layer", "n_head", "vocab_size"},
}
PUBLISHED_WEIGHTS = {
    "dream": r"^(model\.embed_tokens\.weight|model\.norm\.weight|lm_head\.weight|model\.layers\.\d+\.("
             r"self_attn\.[qkv]_proj\.(weight|bias)|self_attn\.o_proj\.weight|mlp\.(gate|up|down)_proj\.weight|"
             r"(input|post_attention)_layernorm\.weight))$",
    "llada": r"^model\.transformer\.(wte\.weight|ln_f\.weight|ff_out\.weight|blocks\.\d+\.("
             r"attn_norm|ff_norm|q_proj|k_proj|v_proj|att_proj|attn_out|ff_proj|up_proj|ff_out)\.weight)$",
    "llama": r"^(model\.embed_tokens\.weight|model\.norm\.weight|lm_head\.weight|model\.layers\.\d+\.("
             r"self_attn\.[qkvo]_proj\.weight|mlp\.(gate|up|down)_proj\.weight|(input|post_attention)_layernorm\.weight))$",
    "gpt2": r"^(embed_tokens\.weight|denoise_model\.(wpe\.weight|ln_f\.(weight|bias)|h\.\d+\.("
            r"ln_[12]\.(weight|bias)|attn\.c_(attn|proj)\.(weight|bias)|mlp\.c_(fc|proj)\.(weight|bias))))$",
}
SOURCE_TREE = {"dream": "dream", "diffucoder": "dream", "llada": "llada", "llada-fused": "llada",
               "diffullama": "llama", "diffugpt-s": "gpt2", "diffugpt-m": "gpt2"}


UNEMBED_GAIN = 6.0  # sharper logits: the copy task's clean-corrupted metric difference exceeds 1
_UNEMBEDS = ("lm_head.weight", "model.transformer.ff_out.weight")


def _unit_scale(model: torch.nn.Module, seed: int) -> None:
    """Re-draw every weight matrix with rows of unit scale (N(0, 1/fan_in)); embeddings N(0, 1);
    an untied unembedding UNEMBED_GAIN times that."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:
                fan_in = p.shape[0] if "c_attn" in name or "c_proj" in name or "c_fc" in name else p.shape[1]
                std = 1.0 if ("wte" in name or "embed" in name or "wpe" in name) else fan_in**-0.5
                p.copy_(torch.randn(p.shape, generator=gen) * std * (UNEMBED_GAIN if name in _UNEMBEDS else 1.0))
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)


def _remote(folder: Path, config: dict[str, Any], files: tuple[str, ...], seed: int) -> Path:
    from transformers import AutoConfig, AutoModel

    folder.mkdir(parents=True)
    for name in files:
        shutil.copy(REMOTE / name, folder / name)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    with remote_code_compat():
        cfg = AutoConfig.from_pretrained(folder, trust_remote_code=True, local_files_only=True)
        model = AutoModel.from_config(cfg, trust_remote_code=True)
    _unit_scale(model, seed)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    return folder


def _dream(folder: Path, vocab: int, mask: int, kv_heads: int, layers: int, seed: int) -> Path:
    config = {
        "model_type": "Dream", "architectures": ["DreamModel"],
        "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
        "vocab_size": vocab, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": layers,
        "num_attention_heads": 4, "num_key_value_heads": kv_heads, "hidden_act": "silu", "max_position_embeddings": 128,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None, "attention_dropout": 0.0,
        "mask_token_id": mask, "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3, "tie_word_embeddings": False,
    }
    return _remote(folder, config, ("configuration_dream.py", "modeling_dream.py"), seed)


def _llada(folder: Path, vocab: int, mask: int, fused: bool, seed: int) -> Path:
    config = {
        "model_type": "llada", "architectures": ["LLaDAModelLM"],
        "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig", "AutoModel": "modeling_llada.LLaDAModelLM",
                     "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM"},
        "d_model": 32, "n_heads": 4, "n_kv_heads": 4, "n_layers": 2, "mlp_hidden_size": 64, "vocab_size": vocab,
        "embedding_size": vocab, "max_sequence_length": 128, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "include_bias": False, "weight_tying": False, "block_type": "sequential" if fused else "llama",
        "mask_token_id": mask, "pad_token_id": 0, "eos_token_id": 3,
    }
    return _remote(folder, config, ("configuration_llada.py", "modeling_llada.py"), seed)


def _diffullama(folder: Path, tokenizer: Any, seed: int) -> Path:
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         bos_token_id=2, eos_token_id=3, pad_token_id=0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    _unit_scale(model, seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _diffugpt(folder: Path, tokenizer: Any, seed: int) -> Path:
    """GPT-2 as DiffuLLaMA's training wrapper saves it: `denoise_model.` + `embed_tokens.weight`, tied head."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=128,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=2, eos_token_id=3, pad_token_id=0)
    model = GPT2LMHeadModel(config)
    _unit_scale(model, seed)
    folder.mkdir(parents=True)
    renamed = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to the embedding
        new = "embed_tokens.weight" if name == "transformer.wte.weight" else re.sub(r"^transformer\.", "denoise_model.", name)
        renamed[new] = tensor.contiguous().clone()
    save_file(renamed, str(folder / "model.safetensors"))
    config.architectures = ["GPT2LMHeadModel"]
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_standin(name: str, folder: Path, seed: int = 0) -> Path:
    """Build stand-in `name` (one of STANDINS) into `folder`, which must not exist yet."""
    tokenizer = tiny_tokenizer()
    if name == "diffugpt-m":  # the medium model's mask token was added after pre-training
        tokenizer.add_special_tokens({"mask_token": "[MASK]"})
    mask = int(tokenizer.mask_token_id)
    if name in ("dream", "diffucoder"):
        path = _dream(folder, len(tokenizer), mask, kv_heads=2 if name == "dream" else 1, layers=2 if name == "dream" else 3, seed=seed)
    elif name in ("llada", "llada-fused"):
        path = _llada(folder, len(tokenizer), mask, fused=name == "llada-fused", seed=seed)
    elif name == "diffullama":
        return _diffullama(folder, tokenizer, seed)
    elif name in ("diffugpt-s", "diffugpt-m"):
        return _diffugpt(folder, tokenizer, seed)
    else:
        raise ValueError(f"unknown stand-in {name!r}; use one of {STANDINS}")
    tokenizer.save_pretrained(path)
    return path
