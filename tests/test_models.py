"""Layer 1: loading, standard components, causal vs bidirectional attention, load errors."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

import mechtests
from mechtests.errors import MechtestsError
from mechtests.models import Site, load_checked, read
from mechtests.models.architectures import LLAMA_TREE
from mechtests.testing.checkpoints import FAMILIES


def _random_ids(seed: int, batch: int = 3, length: int = 12) -> torch.Tensor:
    return torch.randint(5, 60, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", FAMILIES)
def test_heads_recombine_through_out_projection_to_attention_output(tiny_paths, family):
    subject = mechtests.load_subject(tiny_paths[family, "arm"])
    ids = _random_ids(0)
    heads: list = []
    outs: list = []
    with torch.no_grad(), subject.nn.trace(ids):
        for layer in range(subject.n_layers):
            for h in range(subject.n_heads):
                heads.append(read(subject, Site("head", layer, h)).save())
            outs.append(read(subject, Site("attn_out", layer)).save())
    for layer in range(subject.n_layers):
        w = subject.out_proj_weight(layer)  # (H, d_head, d_model)
        rebuilt = sum(heads[layer * subject.n_heads + h] @ w[h] for h in range(subject.n_heads))
        bias = getattr(subject.out_proj_module(layer), "bias", None)
        rebuilt = rebuilt + bias if bias is not None else rebuilt
        assert torch.allclose(rebuilt, outs[layer], atol=1e-5), f"{family} layer {layer}"


@pytest.mark.parametrize("family", FAMILIES)
def test_sites_have_standard_shapes(tiny_paths, family):
    subject = mechtests.load_subject(tiny_paths[family, "mdm"])
    ids = _random_ids(1, batch=2, length=7)
    sites = [Site("embed"), Site("resid_pre", 1), Site("head", 1, 0), Site("attn_out", 1), Site("mlp_out", 1), Site("resid_post", 1), Site("logits")]
    got: list = []
    with torch.no_grad(), subject.nn.trace(ids):
        for site in sorted(sites, key=lambda s: s.order):
            got.append(read(subject, site).save())
    d, dh, v = subject.d_model, subject.d_head, subject.vocab_size
    assert [tuple(t.shape) for t in got] == [(2, 7, d), (2, 7, d), (2, 7, dh), (2, 7, d), (2, 7, d), (2, 7, d), (2, 7, v)]
    probs: list = []
    with torch.no_grad(), subject.nn.trace(ids):
        probs.append(subject.attention_probs(0).save())
    assert tuple(probs[0].shape) == (2, subject.n_heads, 7, 7)
    assert torch.allclose(probs[0].sum(-1), torch.ones(2, subject.n_heads, 7), atol=1e-5)


def _logits(subject, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return subject.model(input_ids=ids).logits


@pytest.mark.parametrize("family", FAMILIES)
def test_arm_is_causal_and_mdm_bidirectional(tiny_paths, family):
    ids = _random_ids(2)
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 7) % 50 + 5  # a different last token
    arm = mechtests.load_subject(tiny_paths[family, "arm"])
    mdm = mechtests.load_subject(tiny_paths[family, "mdm"])
    arm_shift = (_logits(arm, ids)[:, :-1] - _logits(arm, changed)[:, :-1]).abs().max()
    mdm_shift = (_logits(mdm, ids)[:, :-1] - _logits(mdm, changed)[:, :-1]).abs().max()
    assert arm_shift < 1e-5, "a later token changed an ARM's earlier logits"
    assert mdm_shift > 1e-4, "the MDM ignored a later token: attention is not bidirectional"


@pytest.mark.parametrize("family", FAMILIES)
def test_save_and_load_round_trip(tiny_dir, tiny_paths, family):
    first = mechtests.load_subject(tiny_paths[family, "arm"])
    copy = tiny_dir / f"{family}-roundtrip"
    first.model.save_pretrained(copy)
    first.tokenizer.save_pretrained(copy)
    second = mechtests.load_subject(copy)
    ids = _random_ids(3)
    assert torch.equal(_logits(first, ids), _logits(second, ids))
    assert second.kind == "arm" and second.weights_sha256 == first.weights_sha256
    assert second.tokenizer.convert_ids_to_tokens(ids[0].tolist()) == first.tokenizer.convert_ids_to_tokens(ids[0].tolist())


def test_weights_hash_is_the_sha256_of_the_file(tiny_paths):
    import hashlib

    path = tiny_paths["llama", "arm"]
    expected = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert mechtests.load_subject(path).weights_sha256 == expected


def test_kind_and_convention_come_from_config_block_or_spec(tiny_paths):
    mdm = mechtests.load_subject(tiny_paths["gpt2", "mdm-same"])
    assert (mdm.kind, mdm.prediction, mdm.is_mdm) == ("mdm", "same-position", True)
    assert mdm.mask_token_id == mdm.tokenizer.mask_token_id
    overridden = mechtests.load_subject(tiny_paths["gpt2", "mdm-same"], prediction="shifted")
    assert overridden.prediction == "shifted"


# --- errors: one line, naming the fix ------------------------------------------------


def _one_line_error(call) -> str:
    with pytest.raises(MechtestsError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and info.value.fix, message
    return message


def test_missing_folder_error(tmp_path):
    msg = _one_line_error(lambda: mechtests.load_subject(tmp_path / "nowhere"))
    assert "no checkpoint folder" in msg and "config.json" in msg


def test_missing_weights_error(tiny_paths, tmp_path):
    folder = tmp_path / "noweights"
    shutil.copytree(tiny_paths["llama", "arm"], folder)
    (folder / "model.safetensors").unlink()
    assert "has no weights" in _one_line_error(lambda: mechtests.load_subject(folder))


def test_pickle_weights_need_opt_in(tiny_paths, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_paths["llama", "arm"], folder)
    reference = mechtests.load_subject(folder)
    (folder / "model.safetensors").unlink()
    torch.save(reference.model.state_dict(), folder / "pytorch_model.bin")
    msg = _one_line_error(lambda: mechtests.load_subject(folder))
    assert "pickle" in msg and "allow_pickle=True" in msg
    trusted = mechtests.load_subject(folder, allow_pickle=True)
    ids = _random_ids(4)
    assert torch.equal(_logits(trusted, ids), _logits(reference, ids))


def test_mdm_without_mask_token_error(tiny_paths, tmp_path):
    folder = tmp_path / "nomask"
    shutil.copytree(tiny_paths["llama", "mdm"], folder)
    config = json.loads((folder / "config.json").read_text())
    del config["mechtests"]["mask_token_id"]
    (folder / "config.json").write_text(json.dumps(config))
    assert "no mask token" in _one_line_error(lambda: mechtests.load_subject(folder))
    assert mechtests.load_subject(folder, mask_token_id=4).mask_token_id == 4


def test_unknown_architecture_error(tiny_paths, tmp_path):
    folder = tmp_path / "alien"
    shutil.copytree(tiny_paths["llama", "arm"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "alien"
    (folder / "config.json").write_text(json.dumps(config))
    msg = _one_line_error(lambda: mechtests.load_subject(folder))
    assert "unsupported model_type 'alien'" in msg and "family=" in msg and "dream" in msg


def test_missing_kind_error(tiny_paths, tmp_path):
    folder = tmp_path / "nokind"
    shutil.copytree(tiny_paths["llama", "arm"], folder)
    config = json.loads((folder / "config.json").read_text())
    del config["mechtests"]
    (folder / "config.json").write_text(json.dumps(config))
    assert "no model kind" in _one_line_error(lambda: mechtests.load_subject(folder))
    assert mechtests.load_subject(folder, kind="arm").kind == "arm"


def test_remote_code_only_on_request(tiny_paths, monkeypatch):
    import transformers

    seen: list = []
    real = transformers.AutoConfig.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", spy)
    mechtests.load_subject(tiny_paths["llama", "arm"])
    mechtests.load_subject(tiny_paths["llama", "arm"], trust_remote_code=True)
    assert set(seen[: len(seen) // 2]) == {False} and set(seen[len(seen) // 2 :]) == {True}


def test_validation_names_missing_component(tiny_paths):
    broken = dataclasses.replace(LLAMA_TREE, mlp="feedforward")
    msg = _one_line_error(lambda: mechtests.load_subject(tiny_paths["llama", "arm"], arch=broken))
    assert "missing component" in msg and "feedforward" in msg and "arch=" in msg


# --- the family registry and the architecture map ---------------------------------------


def test_family_override_and_checks_listed(tiny_paths):
    loaded = load_checked(tiny_paths["llama", "mdm"])
    assert loaded.subject.family.name == "llama" and loaded.subject.direction == "bidirectional"
    assert any("every weight finite" in c for c in loaded.checks) and any("measured bidirectional" in c for c in loaded.checks)
    assert "unknown family 'nope'" in _one_line_error(lambda: mechtests.load_subject(tiny_paths["llama", "mdm"], family="nope"))


def test_an_arm_that_attends_bidirectionally_is_refused(tiny_paths):
    # attention="causal" leaves the saved config as it is: this folder's says is_causal false
    msg = _one_line_error(lambda: mechtests.load_subject(tiny_paths["llama", "mdm"], kind="arm", attention="causal"))
    assert "declared an ARM but its attention measured bidirectional" in msg and "kind='mdm'" in msg


@pytest.mark.parametrize("fields,problem", [
    (dict(qkv_layout="interleaved"), "qkv_layout='interleaved'"),
    (dict(qkv_layout="fused"), "declares qkv_layout='fused' with 3 projections"),
])
def test_architecture_map_declarations_are_checked(fields, problem):
    with pytest.raises(MechtestsError, match=problem):
        dataclasses.replace(LLAMA_TREE, **fields)


def test_arch_as_a_dict_names_unknown_and_missing_fields(tiny_paths):
    msg = _one_line_error(lambda: mechtests.load_subject(tiny_paths["llama", "arm"], arch={"tree": "x", "colour": "red"}))
    assert "unknown fields ['colour']" in msg and "'layers'" in msg


def test_parallel_blocks_are_refused_by_edge_attribution(tiny_paths):
    from mechtests.measure.attribution import Layout

    subject = mechtests.load_subject(tiny_paths["llama", "arm"], arch=dataclasses.replace(LLAMA_TREE, parallel=True))
    assert "parallel blocks" in _one_line_error(lambda: Layout(subject))
