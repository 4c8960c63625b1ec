"""Faithfulness curves (mechtests.measure.curves): f against a straightforward implementation, MIB's
areas, the circuit size the curve picks, and one stacked pass for every size."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from measure_helpers import PAIR, bundled
from mechtests import study
from mechtests.errors import MechtestsError
from mechtests.measure import curves
from mechtests.measure.attribution import graph_for
from mechtests.measure.attribution.eap import Attribution
from mechtests.measure.curves import Curve, area, grid_sizes, measure_curve, smallest_faithful
from mechtests.queries import answer_metric, pose
from mechtests.run import budget as run_budget
from mechtests.tasks import TaskSet


def _stage(name: str) -> int:
    """When a node writes / reads: embed -1, heads of layer l 2l, the MLP of l 2l + 1, logits last."""
    if name == "embed":
        return -1
    if name == "logits":
        return 10**6
    layer = int(name[1:].split(".")[0])
    return 2 * layer + (1 if name.startswith("m") else 0)


def _plain_run(model, ids: torch.Tensor, keep: set, corrupted: dict | None) -> tuple[torch.Tensor, dict]:
    """Logits of a Llama model written out by hand, each downstream node reading the sum of its
    upstream nodes' outputs: this run's own where the edge is kept, the corrupted run's elsewhere."""
    inner, cfg = model.model, model.config
    n_heads, dh = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    T = ids.shape[1]
    outs = {"embed": inner.embed_tokens(ids)}
    cos, sin = inner.rotary_emb(outs["embed"], torch.arange(T)[None])
    causal = torch.full((T, T), -math.inf).triu(1)

    def read(down: str) -> torch.Tensor:
        ups = [u for u in outs if _stage(u) < _stage(down)]
        return sum(outs[u] if corrupted is None or (u, down) in keep else corrupted[u] for u in ups)

    for l, layer in enumerate(inner.layers):
        attn, heads = layer.self_attn, {}
        for h in range(n_heads):
            x = layer.input_layernorm(read(f"a{l}.h{h}"))
            rows = slice(h * dh, (h + 1) * dh)
            q, k, v = (x @ proj.weight[rows].T for proj in (attn.q_proj, attn.k_proj, attn.v_proj))  # (B, T, dh)
            q, k = apply_rotary_pos_emb(q[:, None], k[:, None], cos, sin)
            weights = torch.softmax(q[:, 0] @ k[:, 0].transpose(1, 2) / math.sqrt(dh) + causal, dim=-1)
            heads[f"a{l}.h{h}"] = (weights @ v) @ attn.o_proj.weight[:, rows].T
        outs.update(heads)
        outs[f"m{l}"] = layer.mlp(layer.post_attention_layernorm(read(f"m{l}")))
    return model.lm_head(inner.norm(read("logits"))), outs


@torch.no_grad()
def test_f_at_two_sizes_matches_plain_per_edge_patching_on_the_bundled_arm():
    subject = bundled("arm")
    model = AutoModelForCausalLM.from_pretrained(PAIR / "arm", dtype=torch.float32).eval()
    examples = TaskSet(subject.tokenizer, n=60, seed=0)["ioi"][:12]
    graph = graph_for(subject)
    scores = torch.randn(graph.edge_mask.shape, generator=torch.Generator().manual_seed(0))
    percents = (10.0, 50.0, 100.0)
    curve = measure_curve(subject, examples, scores, graph, percents)

    clean, corrupt = pose(subject, examples), pose(subject, examples, corrupted=True)
    m_clean = answer_metric(_plain_run(model, clean.input_ids, set(), None)[0], clean)
    corrupt_logits, corrupt_outs = _plain_run(model, corrupt.input_ids, set(), None)
    m_empty = answer_metric(corrupt_logits, clean)
    edges = graph.edges()
    ranked = sorted(edges, key=lambda e: -abs(float(scores[graph.upstream.index(e[0]), graph.downstream.index(e[1])])))
    for s, k in enumerate(curve.sizes[:2]):
        m = answer_metric(_plain_run(model, clean.input_ids, set(ranked[:k]), corrupt_outs)[0], clean)
        plain = float((m.mean() - m_empty.mean()) / (m_clean.mean() - m_empty.mean()))
        assert curve.faithfulness(seed=0)[s].value == pytest.approx(plain, abs=1e-4), (k, plain)


def _curve(absolute: np.ndarray, signed: np.ndarray | None = None, percents=(10.0, 50.0, 100.0)) -> Curve:
    """A curve whose examples' empty metric is 0 and clean metric 1, so f is the mean of m."""
    n = absolute.shape[0]
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return Curve(percents, (1, 5, 10), t(signed if signed is not None else absolute), t(absolute), t(np.ones(n)), t(np.zeros(n)))


def test_cpr_and_cmd_are_mibs_trapezoid_areas_with_seeded_intervals():
    rng = np.random.default_rng(0)
    signed = rng.normal([0.5, 1.5, 1.0], 0.1, size=(40, 3))
    absolute = rng.normal([0.2, 0.9, 1.0], 0.1, size=(40, 3))
    curve = _curve(absolute, signed)
    x = np.array([0.1, 0.5, 1.0])
    f_signed, f_abs = signed.mean(0), absolute.mean(0)
    cpr, cmd = curve.cpr(seed=3), curve.cmd(seed=3)
    assert cpr.value == pytest.approx(0.4 * (f_signed[0] + f_signed[1]) / 2 + 0.5 * (f_signed[1] + f_signed[2]) / 2)
    assert cmd.value == pytest.approx(0.4 * (abs(1 - f_abs[0]) + abs(1 - f_abs[1])) / 2 + 0.5 * (abs(1 - f_abs[1]) + abs(1 - f_abs[2])) / 2)
    assert cpr.value > 0.9 - 0.05 and cpr.lo < cpr.value < cpr.hi and cmd.lo < cmd.value < cmd.hi  # CPR may pass the model's 0.9
    assert (cpr, cmd) == (curve.cpr(seed=3), curve.cmd(seed=3)) and curve.cpr(seed=4) != cpr
    assert area(np.ones(3), x) == pytest.approx(0.9)


def test_k_is_the_smallest_size_whose_interval_clears_the_target_else_the_largest_below_100():
    rng = np.random.default_rng(1)
    clears = _curve(rng.normal([0.3, 0.95, 1.0], 0.02, size=(50, 3)))
    size = smallest_faithful(clears, 0.8, seed=0)
    assert size.k == 5 and size.why.startswith("K=5: smallest grid size with f >= 0.8 (50% of edges, f = 0.94")
    never = _curve(rng.normal([0.1, 0.5, 1.0], 0.02, size=(50, 3)))
    size = smallest_faithful(never, 0.8, seed=0)
    assert size.k == 5 and "no grid size below 100% reaches f >= 0.8; the largest, 50% of edges" in size.why
    straddles = _curve(rng.normal([0.3, 0.8, 1.0], 0.3, size=(50, 3)))
    assert smallest_faithful(straddles, 0.8, seed=0).k == 5  # 50% straddles 0.8: not cleared, the largest below 100%


def test_grid_sizes_round_down_to_at_least_one_edge_and_refuse_a_bad_grid():
    assert grid_sizes(207, (0.1, 0.5, 1, 2, 5, 10, 20, 50, 100)) == (1, 1, 2, 4, 10, 20, 41, 103, 207)
    for bad in ((), (0, 50), (50, 10), (10, 120)):
        with pytest.raises(MechtestsError, match="is not a rising list of percentages"):
            grid_sizes(207, bad)


def test_every_size_shares_one_pass_and_the_batch_changes_nothing(subjects, examples, monkeypatch):
    subject = subjects("llama", "arm")
    graph = graph_for(subject)
    scores = torch.randn(graph.edge_mask.shape, generator=torch.Generator().manual_seed(1))
    one = measure_curve(subject, examples, scores, graph, (10.0, 50.0, 100.0), rows_per_pass=1)
    many = measure_curve(subject, examples, scores, graph, (10.0, 50.0, 100.0))
    for name in ("signed", "absolute", "clean", "empty"):
        torch.testing.assert_close(getattr(one, name), getattr(many, name), rtol=1e-5, atol=1e-5)
    assert many.faithfulness(seed=0)[-1].value == pytest.approx(1.0, abs=1e-5)  # every edge: the model itself
    passes = []
    original = curves.stacked_metrics

    def counted(*args, **kwargs):
        passes.append(args[2].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(curves, "stacked_metrics", counted)
    measure_curve(subject, examples, scores, graph, (10.0, 50.0, 100.0))
    assert len(passes) == 1 and passes[0] <= 2 * 3 + 2  # one stacked call: distinct circuits of both rankings, model, empty


def test_the_paper_budget_fixes_k_at_most_the_graphs_edges(subjects, examples):
    subject = subjects("llama", "arm")
    graph = graph_for(subject)
    attribution = Attribution(graph=graph, scores=torch.ones(graph.edge_mask.shape), per_example=torch.ones(1, *graph.edge_mask.shape),
                              metric_clean=torch.ones(1), metric_corrupted=torch.zeros(1), method="eap-ig", steps=1, denoise_steps=1)
    with run_budget.using(run_budget.BUDGETS["paper"]):
        size = study.circuit_size(subject, "ioi", examples, attribution, seed=0)
    assert size.k == graph.n_edges and size.why == f"K={graph.n_edges}: fixed by the paper budget (fixed_k=1000, at most the graph's {graph.n_edges} edges)"
