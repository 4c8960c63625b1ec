"""Patching and ablation against hand-written torch forward hooks."""

from __future__ import annotations

import pytest
import torch

from mechtests.measure.interventions import ablate, cache, head_sweep, patch, position_mask
from mechtests.models import Site
from mechtests.queries import gather_answer_logits, metric, pose


def hook_metric(subject, posed, module, replace):
    """Metric of `posed` with a forward pre-hook (replace(args0) -> new args0) on `module`."""
    handle = module.register_forward_pre_hook(lambda mod, args: (replace(args[0]), *args[1:]))
    try:
        with torch.no_grad():
            logits = subject.model(**posed.model_inputs(subject)).logits
    finally:
        handle.remove()
    return metric(gather_answer_logits(logits, posed), posed)


def captured_input(subject, posed, module):
    store = {}
    handle = module.register_forward_pre_hook(lambda mod, args: store.setdefault("x", args[0].detach().clone()))
    try:
        with torch.no_grad():
            subject.model(**posed.model_inputs(subject))
    finally:
        handle.remove()
    return store["x"]


@pytest.mark.parametrize("family,variant", [("llama", "arm"), ("llama", "mdm"), ("gpt2", "arm")])
def test_head_patch_matches_a_torch_hook(subjects, examples, family, variant):
    subject = subjects(family, variant)
    clean, corrupt = pose(subject, examples), pose(subject, examples, corrupted=True)
    layer, head = 1, 2
    out_proj = subject.out_proj_module(layer)
    source = captured_input(subject, corrupt, out_proj)
    cols = subject.head_slice(head)

    def replace(z):
        z = z.clone()
        z[..., cols] = source[..., cols]
        return z

    expected = hook_metric(subject, clean, out_proj, replace)
    got = patch(subject, examples, [Site("head", layer, head)]).intervened
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, metric(gather_answer_logits(subject.model(**clean.model_inputs(subject)).logits, clean), clean))


def test_positioned_zero_ablation_of_an_mlp_matches_a_torch_hook(subjects, examples):
    subject = subjects("llama", "arm")
    clean = pose(subject, examples)
    mlp = subject.layer_modules()[0].mlp
    positions = [3, 7]

    def hook(module, args, output):
        output = output.clone()
        output[:, positions] = 0.0
        return output

    handle = mlp.register_forward_hook(hook)
    try:
        with torch.no_grad():
            expected = metric(gather_answer_logits(subject.model(**clean.model_inputs(subject)).logits, clean), clean)
    finally:
        handle.remove()
    got = ablate(subject, examples, [Site("mlp_out", 0)], "zero", positions=positions).intervened
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_mean_and_resample_ablation_of_the_residual_stream(subjects, examples):
    subject = subjects("llama", "arm")
    clean = pose(subject, examples)
    layer = subject.layer_modules()[1]
    resid = captured_input(subject, clean, layer)
    mean = hook_metric(subject, clean, layer, lambda x: resid.mean(0, keepdim=True).expand_as(x))
    torch.testing.assert_close(ablate(subject, examples, [Site("resid_pre", 1)], "mean").intervened, mean, atol=1e-5, rtol=1e-5)
    a = ablate(subject, examples, [Site("resid_pre", 1)], "resample", seed=1).intervened
    b = ablate(subject, examples, [Site("resid_pre", 1)], "resample", seed=1).intervened
    torch.testing.assert_close(a, b)


def test_denoising_the_last_residual_recovers_the_clean_metric(subjects, examples):
    subject = subjects("llama", "mdm")
    effect = patch(subject, examples, [Site("resid_post", subject.n_layers - 1)], into="corrupted")
    assert effect.recovered == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("method", ["patch", "zero", "mean", "resample"])
def test_batched_head_sweep_equals_one_head_at_a_time(subjects, examples, method):
    subject = subjects("llama", "arm")
    sweep = head_sweep(subject, examples, method=method, positions=[5, 10], rows_per_pass=24, seed=2)  # 3 heads per pass
    for layer in range(subject.n_layers):
        for head in range(subject.n_heads):
            site = [Site("head", layer, head)]
            one = patch(subject, examples, site, positions=[5, 10]) if method == "patch" else ablate(subject, examples, site, method, positions=[5, 10], seed=2)
            torch.testing.assert_close(sweep.per_example[:, layer, head], one.effect, atol=1e-5, rtol=1e-5)


def test_cache_reads_every_site_in_one_pass(subjects, examples):
    subject = subjects("gpt2", "arm")
    clean = pose(subject, examples)
    sites = [Site("logits"), Site("head", 0, 1), Site("embed"), Site("mlp_out", 1), Site("attn_out", 0), Site("resid_post", 1)]
    acts = cache(subject, clean, sites)
    assert acts[Site("head", 0, 1)].shape[-1] == subject.d_head and acts[Site("embed")].shape[-1] == subject.d_model


def test_bad_positions_name_the_fix():
    from mechtests.errors import MechtestsError

    with pytest.raises(MechtestsError, match="positions"):
        position_mask([99], 2, 10)


def test_a_head_sweep_over_chosen_layers_and_heads_equals_the_full_sweep_there(subjects, examples):
    subject = subjects("llama", "arm")
    full = head_sweep(subject, examples, method="mean")
    some = head_sweep(subject, examples, method="mean", layers=[1])
    pair = head_sweep(subject, examples, method="mean", heads=[(0, 2), (1, 3)])
    torch.testing.assert_close(some.per_example[:, 1], full.per_example[:, 1], atol=1e-6, rtol=1e-5)
    assert some.per_example[:, 0].isnan().all() and some.heads == [(1, h) for h in range(subject.n_heads)]
    torch.testing.assert_close(pair.effects[0, 2], full.effects[0, 2], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(pair.effects[1, 3], full.effects[1, 3], atol=1e-6, rtol=1e-5)
    assert int((~pair.effects.isnan()).sum()) == 2
    from mechtests.errors import MechtestsError

    with pytest.raises(MechtestsError, match="layers= and heads="):
        head_sweep(subject, examples, heads=[(9, 0)])
