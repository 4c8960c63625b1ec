"""Tiny randomly initialised checkpoints for tests: real HF folders, built in seconds.

Each family (llama, qwen2, gpt2) is saved the way a user's checkpoint would be: config.json
with a mechtests block, model.safetensors and a word-level tokenizer, so that tests go
through the same loading path as real models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PreTrainedTokenizerFast, Qwen2Config

FAMILIES = ("llama", "qwen2", "gpt2")
SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>", "<mask>"]


def tiny_tokenizer(n_words: int = 59) -> Any:
    """A word-level tokenizer over `<pad> <unk> <bos> <eos> <mask> w0 .. w{n-1}`."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + [f"w{i}" for i in range(n_words)])}
    core = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>", mask_token="<mask>"
    )


def tiny_config(family: str, vocab_size: int, n_layers: int = 2, d_model: int = 32, n_heads: int = 4) -> Any:
    """A small config of `family` with eager attention, so attention probabilities are readable."""
    if family == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size, n_embd=d_model, n_layer=n_layers, n_head=n_heads, n_positions=128,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=2, eos_token_id=3, pad_token_id=0,
        )
    common = dict(
        vocab_size=vocab_size, hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=n_layers,
        num_attention_heads=n_heads, num_key_value_heads=n_heads, max_position_embeddings=128,
        bos_token_id=2, eos_token_id=3, pad_token_id=0,
    )
    if family == "llama":
        return LlamaConfig(**common)
    if family == "qwen2":
        return Qwen2Config(**common)
    raise ValueError(f"unknown family {family!r}; use one of {FAMILIES}")


def build_tiny_model(
    path: str | Path,
    family: str = "llama",
    kind: str = "arm",
    seed: int = 0,
    prediction: str = "shifted",
    n_layers: int = 2,
    weights_from: torch.nn.Module | None = None,
) -> Path:
    """Save a random tiny model of `family` as a HF folder at `path` and return the path.

    kind='mdm' saves it with bidirectional attention and the tokenizer's mask token;
    weights_from copies another model's weights (an MDM "post-trained" from an ARM).
    """
    tokenizer = tiny_tokenizer()
    config = tiny_config(family, vocab_size=len(tokenizer), n_layers=n_layers)
    config.is_causal = kind != "mdm"
    config.mechtests = {"kind": kind}
    if kind == "mdm":
        config.mechtests.update(mask_token_id=tokenizer.mask_token_id, prediction=prediction)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    if weights_from is not None:
        model.load_state_dict(weights_from.state_dict())
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
