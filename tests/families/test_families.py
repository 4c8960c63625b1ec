"""#13: each published MDM family loads with its defaults and is read right, checked on stand-ins
against hand-built forward passes and hand-written hooks."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import torch

import mechtests
from mechtests.measure import detect
from mechtests.measure.attribution import Layout, capture, eap_ig
from mechtests.measure.attribution.engine import GraphRun, frozen_weights
from mechtests.measure.attribution.gradsum import GradientSum
from mechtests.cli import main as cli_main
from mechtests.errors import MechtestsError
from mechtests.measure.interventions import patch
from mechtests.models import Site
from mechtests.models.architectures import LLADA_FUSED_TREE, LLAMA_TREE
from mechtests.queries import answer_logits, gather_answer_logits, metric, pose
from standins import EXPECTED, PUBLISHED_KEYS, PUBLISHED_WEIGHTS, SOURCE_TREE, STANDINS


def _one_line(call) -> str:
    with pytest.raises(MechtestsError) as info:
        call()
    assert "\n" not in str(info.value) and info.value.fix, str(info.value)
    return str(info.value)


def _hand_inputs(name: str, ids: torch.Tensor) -> dict:
    """The forward's keyword arguments as each family's own code wants them, written out by hand."""
    family = EXPECTED[name][0]
    if family == "dream":
        return {"input_ids": ids, "attention_mask": "full"}
    if family == "llada":
        return {"input_ids": ids}
    if family == "diffullama":
        return {"input_ids": ids, "attention_mask": torch.zeros(ids.shape[0], 1, ids.shape[1], ids.shape[1])}
    return {"input_ids": ids}


@pytest.mark.parametrize("name", STANDINS)
def test_standin_reproduces_the_published_config_keys_and_weight_names(standin_paths, name):
    from safetensors import safe_open

    tree = SOURCE_TREE[name]
    config = json.loads((standin_paths[name] / "config.json").read_text())
    assert PUBLISHED_KEYS[tree] <= set(config), PUBLISHED_KEYS[tree] - set(config)
    with safe_open(str(standin_paths[name] / "model.safetensors"), "pt") as fh:
        names = list(fh.keys())
    assert names and all(re.match(PUBLISHED_WEIGHTS[tree], n) for n in names), [n for n in names if not re.match(PUBLISHED_WEIGHTS[tree], n)]


@pytest.mark.parametrize("name", STANDINS)
def test_standin_loads_with_its_family_defaults(standins, name):
    subject = standins(name)
    family, kind, prediction, _ = EXPECTED[name]
    assert (subject.family.name, subject.kind, subject.prediction) == (family, kind, prediction)
    assert subject.mask_token_id == subject.tokenizer.mask_token_id  # the stand-ins' configs and tokenizers agree
    assert subject.direction == "bidirectional"
    assert subject.allows_padding == (family != "llada")


@pytest.mark.parametrize("name", ["diffugpt-s", "diffugpt-m"])
def test_diffugpt_mask_token_is_existing_or_added(standins, name):
    subject = standins(name)
    base_vocab = 64  # tiny_tokenizer(): 5 special tokens and 59 words
    if name == "diffugpt-s":
        assert subject.mask_token_id < base_vocab
    else:
        assert subject.mask_token_id == base_vocab and subject.vocab_size == base_vocab + 1


@pytest.mark.parametrize("name", STANDINS)
def test_query_layer_reads_the_right_positions(standins, copy_task, name):
    subject = standins(name)
    got = answer_logits(subject, copy_task)  # (B, 1, V)
    ids = torch.tensor([ex.tokens for ex in copy_task])
    ids[:, 10] = subject.mask_token_id
    with torch.no_grad():
        logits = subject.model(**_hand_inputs(name, ids)).logits
    read = 10 if subject.prediction == "same-position" else 9
    torch.testing.assert_close(got[:, 0], logits[:, read], rtol=0, atol=1e-5)


def _own_probs(subject, name: str, ids: torch.Tensor) -> list[torch.Tensor]:
    """Attention probabilities from the model's own modules, captured with plain torch hooks."""
    got: list = []
    hooks = []
    if EXPECTED[name][0] == "llada":  # never materialised: rebuilt from its own rotary module's (q, k)
        for block in subject.layer_modules():
            def rebuild(module, args, output):
                q, k = output
                got.append(torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1))
            hooks.append(block.rotary_emb.register_forward_hook(rebuild))
    else:
        for layer in range(subject.n_layers):
            module = subject.block_module(layer, "attention")
            hooks.append(module.register_forward_hook(lambda m, a, out: got.append(out[1])))
    try:
        with torch.no_grad():
            subject.model(**_hand_inputs(name, ids))
    finally:
        for h in hooks:
            h.remove()
    return got


@pytest.mark.parametrize("name", STANDINS)
def test_head_detectors_read_the_models_own_attention(standins, name):
    subject = standins(name)
    ids = detect.repeated_tokens(list(range(5, 60)), n=3, length=6, seed=1)
    mine = detect.attention_patterns(subject, ids, torch.ones_like(ids))
    own = _own_probs(subject, name, ids)
    for layer, (a, b) in enumerate(zip(mine, own)):
        torch.testing.assert_close(a, b.float(), rtol=0, atol=1e-5, msg=f"layer {layer}")
    scores = detect.head_scores(subject, ids, detect.previous_token_targets)
    valid = torch.ones_like(ids, dtype=torch.bool)
    expected = torch.stack([detect.score_from_probs(p.float(), detect.previous_token_targets(ids, valid))[0].mean(0) for p in own])
    torch.testing.assert_close(scores.scores, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", STANDINS)
def test_node_patching_equals_hand_written_hooks(standins, copy_task, name):
    subject = standins(name)
    clean, corrupt = pose(subject, copy_task), pose(subject, copy_task, corrupted=True)
    effect = patch(subject, (clean, corrupt), [Site("head", 1, 0)])
    out_proj, cols = subject.out_proj_module(1), subject.head_slice(0)
    saved = {}
    handle = out_proj.register_forward_pre_hook(lambda m, args: saved.update(z=args[0][..., cols].clone()))
    with torch.no_grad():
        subject.model(**_hand_inputs(name, corrupt.input_ids))
    handle.remove()

    def swap(module, args):
        z = args[0].clone()
        z[..., cols] = saved["z"]
        return (z, *args[1:])

    handle = out_proj.register_forward_pre_hook(swap)
    with torch.no_grad():
        logits = subject.model(**_hand_inputs(name, clean.input_ids)).logits
    handle.remove()
    from mechtests.queries import gather_answer_logits

    assert torch.equal(effect.intervened, metric(gather_answer_logits(logits, clean), clean))


def _oriented(subject, examples):
    """Each pair turned so that its clean run scores higher: random weights favour neither side, and
    the mean clean-corrupted difference must reach 1 for completeness to be judged."""
    clean = metric(answer_logits(subject, examples), pose(subject, examples))
    corrupt = metric(answer_logits(subject, examples, corrupted=True), pose(subject, examples, corrupted=True))
    return [ex if c >= k else dataclasses.replace(ex, tokens=ex.corrupted, corrupted=ex.tokens) for ex, c, k in zip(examples, clean, corrupt)]


@pytest.mark.parametrize("name", STANDINS)
def test_eap_ig_is_complete_within_5_percent_at_32_steps(standins, copy_task, name):
    subject = standins(name)
    result = eap_ig(subject, _oriented(subject, copy_task), steps=32)
    total, gap = result.completeness()
    assert abs(gap) >= 1.0, f"clean-corrupted metric difference {gap:.3f} is too small to judge completeness"
    assert abs(total - gap) / abs(gap) < 0.05, (total, gap)


def _head_input_grads(subject, posed, per_head_forward: bool) -> torch.Tensor:
    """Gradient of the metric at every downstream node's input (B, n_down, T, d), from a gradient
    pass (each layer projected once, the heads' shares summed by GradientSum) or from the
    edge-patching forward (each head projects its own copy) with no edge dropped."""
    layout = Layout(subject)
    drop = torch.zeros_like(layout.graph.edge_mask) if per_head_forward else None
    reference = torch.zeros(1, posed.input_ids.shape[1], len(layout.graph.upstream), subject.d_model) if per_head_forward else None
    embed = capture(layout, posed.input_ids, posed.attention_mask)[:, :, 0].requires_grad_(True)  # the stream entering layer 0
    sums = GradientSum(layout, len(posed), posed.input_ids.shape[1], embed.device)
    with torch.enable_grad(), frozen_weights(subject.model), GraphRun(layout, embed=embed, drop=drop, reference=reference, record_grads=True) as run:
        logits = subject.model(**posed.model_inputs(subject)).logits
    sums.add(run.gradients(metric(gather_answer_logits(logits, posed), posed).sum()))
    return sums.result()


@pytest.mark.parametrize("name", STANDINS)
def test_gradient_pass_splits_head_gradients_as_the_per_head_forward_does(standins, copy_task, name):
    """Fused q/k/v (LLaDA, GPT-2's Conv1D), grouped keys and values (Dream, DiffuCoder), LayerNorm (GPT-2)."""
    subject = standins(name)
    posed = pose(subject, copy_task)
    shared, own = _head_input_grads(subject, posed, False), _head_input_grads(subject, posed, True)
    # Two float32 summation orders of the same gradient: they agree to a few units of float32's
    # 1.2e-7 rounding times the column's scale (1e-6 of it failed on one element in 2112, at
    # 1.2e-6, on a CPU whose kernels sum in another order than the box the bound was set on).
    for column in range(own.shape[1]):
        torch.testing.assert_close(shared[:, column], own[:, column], rtol=1e-5, atol=1e-5 * float(own[:, column].abs().max()))


class _TanhNorm(torch.nn.Module):
    """A norm with a weight and an eps that is neither RMSNorm nor LayerNorm: no closed-form VJP."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight, self.eps = torch.nn.Parameter(torch.rand(d, generator=torch.Generator().manual_seed(0)) + 0.5), 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.tanh(x) / (x.abs().mean(-1, keepdim=True) + self.eps)


@pytest.mark.parametrize("name", ["dream", "diffugpt-s"])
def test_a_norm_without_a_closed_form_splits_head_gradients_through_torch_func(standin_paths, copy_task, name):
    """Grouped keys and values with biases (Dream), fused Conv1D (GPT-2): the per-pass route."""
    subject = mechtests.load_subject(standin_paths[name], **EXPECTED[name][3])
    parent, _, attr = subject.arch.attn_norm.rpartition(".")
    for layer in subject.layer_modules():
        setattr(layer.get_submodule(parent) if parent else layer, attr, _TanhNorm(subject.d_model))
    assert all(Layout(subject).attn_norm_pullback(l) is None for l in range(subject.n_layers))
    posed = pose(subject, copy_task)
    shared, own = _head_input_grads(subject, posed, False), _head_input_grads(subject, posed, True)
    torch.testing.assert_close(shared, own, rtol=1e-5, atol=1e-6 * float(own.abs().max()))


# --- what the registry refuses -------------------------------------------------------


def test_diffullama_without_its_mask_runs_causally_and_is_caught(standin_paths):
    msg = _one_line(lambda: mechtests.load_subject(standin_paths["diffullama"], kind="mdm", attention="causal"))
    assert "declared an MDM" in msg and "measured causal" in msg and "family='diffullama'" in msg


def test_a_plain_llama_folder_without_a_declared_kind_says_how_to_declare_it(standin_paths):
    assert "no model kind" in _one_line(lambda: mechtests.load_subject(standin_paths["diffullama"]))


def test_remote_code_families_need_trust_remote_code(standin_paths):
    msg = _one_line(lambda: mechtests.load_subject(standin_paths["dream"]))
    assert "dream" in msg and "trust_remote_code=True" in msg


def test_a_wrong_fused_qkv_split_fails_at_load(standin_paths):
    wrong = dataclasses.replace(LLADA_FUSED_TREE, qkv_split=(64, 16, 16))
    msg = _one_line(lambda: mechtests.load_subject(standin_paths["llada-fused"], trust_remote_code=True, arch=wrong))
    assert "qkv_split (64, 16, 16)" in msg and "arch=" in msg


def test_a_wrong_qkv_order_under_grouped_query_attention_fails_at_load(standin_paths):
    swapped = dataclasses.replace(LLAMA_TREE, qkv=("self_attn.k_proj", "self_attn.q_proj", "self_attn.v_proj"))
    msg = _one_line(lambda: mechtests.load_subject(standin_paths["dream"], trust_remote_code=True, arch=swapped))
    assert "q projection self_attn.k_proj has shape (16, 32), expected (32, 32)" in msg


def test_a_separate_layout_over_a_fused_tree_fails_at_load(standin_paths):
    from mechtests.models.architectures import LLADA_TREE

    msg = _one_line(lambda: mechtests.load_subject(standin_paths["llada-fused"], trust_remote_code=True, arch=LLADA_TREE))
    assert "missing component" in msg and "q_proj" in msg


def test_a_users_map_as_a_dict_is_accepted(standin_paths):
    fields = {f.name: getattr(LLAMA_TREE, f.name) for f in dataclasses.fields(LLAMA_TREE)}
    subject = mechtests.load_subject(standin_paths["diffullama"], kind="mdm", arch=dict(fields, tree="mine"))
    assert subject.arch.tree == "mine"


def test_llada_takes_no_mask_and_refuses_padding(standins):
    subject = standins("llada")
    ids = torch.full((2, 5), 7)
    assert set(subject.model_inputs(ids, torch.ones_like(ids))) == {"input_ids"}
    padded = torch.ones_like(ids)
    padded[0, -1] = 0
    assert "allows_padding" in _one_line(lambda: subject.model_inputs(ids, padded))


def test_mask_forms_for_dream_and_diffullama(standins):
    ids = torch.full((2, 4), 7)
    padded = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    dream = standins("dream")
    assert dream.model_inputs(ids, torch.ones_like(ids))["attention_mask"] == "full"
    inputs = dream.model_inputs(ids, padded)
    assert inputs["attention_mask"].dtype == torch.bool and inputs["attention_mask"].shape == (2, 1, 4, 4)
    assert not inputs["attention_mask"][0, 0, :, 3].any() and inputs["position_ids"].shape == (2, 4)
    additive = standins("diffullama").model_inputs(ids, padded)["attention_mask"]
    assert additive.shape == (2, 1, 4, 4) and (additive[1] == 0).all() and (additive[0, 0, :, 3] < -1e30).all()


# --- mechtests inspect ----------------------------------------------------------------


def _inspect_args(name: str) -> list[str]:
    extra = EXPECTED[name][3]
    return (["--trust-remote-code"] if extra.get("trust_remote_code") else []) + (["--kind", extra["kind"]] if "kind" in extra else [])


@pytest.mark.parametrize("name", STANDINS)
def test_inspect_prints_what_the_tool_will_do(standin_paths, capsys, name):
    assert cli_main(["inspect", str(standin_paths[name]), *_inspect_args(name)]) == 0
    text = capsys.readouterr().out
    for field in ("family", "kind", "prediction", "mask token", "attention", "components", "parameters", "checks"):
        assert re.search(rf"^{field}\b", text, re.M), field
    assert f"family          {EXPECTED[name][0]}" in text and "measured bidirectional" in text
    assert cli_main(["inspect", str(standin_paths[name]), "--json", *_inspect_args(name)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["family"], info["kind"], info["prediction"]) == EXPECTED[name][:3]
    assert info["attention"]["measured"] == "bidirectional" and info["parameters"] > 0 and info["checks"]


def test_inspect_of_a_broken_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli_main(["inspect", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no checkpoint folder" in err
