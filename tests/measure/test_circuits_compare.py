"""Circuits, comparisons, statistics and the disk cache."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import mechtests
from mechtests.run import cache as mcache
from mechtests.measure.attribution import Graph, eap_ig
from mechtests.measure.attribution.eap import Attribution
from mechtests.measure.circuits import connected_edges, faithfulness, top_edges
from mechtests.measure.ablations import control_sets, targeted_ablation
from mechtests.measure.contrasts import depth_profile, gini, jaccard, logit_lens, overlap, specialization, top_share
from mechtests.errors import MechtestsError
from mechtests.measure.interventions import cache
from mechtests.models import Site
from mechtests.queries import pose
from mechtests.stats import bootstrap, normalised, spearman


@pytest.fixture(scope="module")
def attribution(subjects, examples):
    return eap_ig(subjects("llama", "arm"), examples, steps=8)


def test_graph_edges_follow_the_forward_order():
    g = Graph(n_layers=2, n_heads=2)
    edges = set(g.edges())
    assert ("embed", "logits") in edges and ("a0.h0", "m0") in edges and ("a0.h0", "a1.h1") in edges
    assert ("a0.h0", "a0.h1") not in edges and ("m0", "a0.h0") not in edges and ("m1", "m1") not in edges
    # embed -> 7 inputs; layer-0 heads -> 5 each; m0 -> 4; layer-1 heads -> 2 each; m1 -> 1
    assert g.n_edges == 7 + 2 * 5 + 4 + 2 * 2 + 1


def test_a_circuit_takes_its_size_or_a_share_of_the_edges(attribution):
    n = attribution.graph.n_edges
    assert top_edges(attribution, fraction=0.1).k == round(0.1 * n) and top_edges(attribution, fraction=1e-6).k == 1
    with pytest.raises(MechtestsError, match="a circuit needs its size"):
        top_edges(attribution)
    with pytest.raises(MechtestsError, match=r"fraction must lie in \(0, 1\]"):
        connected_edges(attribution, fraction=0)


def test_top_edges_and_node_scores(attribution):
    circuit = top_edges(attribution, k=5)
    kept = attribution.scores.abs()[circuit.mask]
    others = attribution.scores.abs()[attribution.graph.edge_mask & ~circuit.mask]
    assert circuit.k == 5 and kept.min() >= others.max()
    nodes = circuit.node_scores()
    assert sum(nodes.values()) == pytest.approx(2 * float(attribution.scores[circuit.mask].sum()), rel=1e-5)


def _synthetic(graph: Graph, scores: dict[tuple[str, str], float]) -> Attribution:
    matrix = torch.zeros(graph.edge_mask.shape)
    for (up, down), value in scores.items():
        matrix[graph.upstream.index(up), graph.downstream.index(down)] = value
    one = torch.zeros(1)
    return Attribution(graph, matrix, matrix[None], one, one, "eap-ig", 1, 1)


def test_connected_edges_grow_back_from_the_logits_where_top_edges_dangle():
    g = Graph(n_layers=2, n_heads=2)
    att = _synthetic(g, {("embed", "a0.h0"): 10.0, ("a0.h0", "a1.h0"): 9.0, ("m1", "logits"): 1.0, ("a1.h0", "logits"): -0.5})
    assert set(top_edges(att, k=2).edges()) == {("embed", "a0.h0"), ("a0.h0", "a1.h0")}  # no path to the logits
    assert set(connected_edges(att, k=3).edges()) == {("m1", "logits"), ("a1.h0", "logits"), ("a0.h0", "a1.h0")}
    assert set(connected_edges(att, k=4).edges()) == {("m1", "logits"), ("a1.h0", "logits"), ("a0.h0", "a1.h0"), ("embed", "a0.h0")}
    assert connected_edges(att, k=g.n_edges).mask.equal(g.edge_mask)  # everything reaches the logits eventually


def test_every_connected_edge_lies_on_a_path_to_the_logits(attribution):
    circuit = connected_edges(attribution, k=12)
    edges = circuit.edges()
    assert circuit.k == 12
    feeding = {up for up, _ in edges}
    assert all(down == "logits" or down in feeding for _, down in edges)


def test_faithfulness_is_one_for_the_full_graph_and_zero_for_none(subjects, examples, attribution):
    subject = subjects("llama", "arm")
    g = attribution.graph
    assert faithfulness(subject, examples, g.edge_mask).value == pytest.approx(1.0, abs=1e-4)
    assert faithfulness(subject, examples, torch.zeros_like(g.edge_mask)).value == pytest.approx(0.0, abs=1e-4)
    top = faithfulness(subject, examples, top_edges(attribution, fraction=0.3))
    assert top.circuit.shape == (len(examples),)
    mean = faithfulness(subject, examples, g.edge_mask, reference="mean")
    assert mean.value == pytest.approx(1.0, abs=1e-4)


def test_control_sets_hold_distinct_non_targets_and_leave_an_exhausted_layer(subjects):
    subject = subjects("llama", "arm")
    assert subject.n_layers == 2
    targets = [Site("head", 1, h) for h in range(subject.n_heads)]  # every head of layer 1
    controls = control_sets(subject, targets, n=20, seed=0, band=(0, 2))
    for name in ("random", "same_depth", "band"):
        for drawn in controls[name]:
            assert len(set(drawn)) == len(targets) and not set(drawn) & set(targets), (name, drawn)
    assert {s.layer for drawn in controls["same_depth"] for s in drawn} == {0}  # the nearest layer with free heads
    assert control_sets(subject, targets, n=20, seed=0) == control_sets(subject, targets, n=20, seed=0)
    every_mlp = [Site("mlp_out", 0), Site("mlp_out", 1)]  # no MLP is left to be a control
    for drawn in control_sets(subject, every_mlp, n=5, seed=0)["random"]:
        assert not set(drawn) & set(every_mlp) and len(set(drawn)) == 2 and {s.name for s in drawn} == {"head"}


def test_overlap_with_null(attribution):
    c = top_edges(attribution, k=10)
    same = overlap(c, c, n_null=200, seed=1)
    assert same.value == 1.0 and same.null_mean < 0.5 and same.p_value < 0.05
    assert overlap(c, c, level="nodes", n_null=50).value == 1.0
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)


def test_depth_profile_and_specialization(attribution):
    profile = depth_profile(attribution)
    assert sum(profile.share) == pytest.approx(1.0) and 0 <= profile.centre <= 1
    g = attribution.graph
    only_first = torch.zeros_like(attribution.scores)
    only_first[0, g.down_index(0, 1)] = 1.0
    assert depth_profile(only_first, g).early_share == 1.0 and depth_profile(only_first, g).centre == 0.0
    assert gini([0, 0, 0, 5]) == pytest.approx(0.75) and gini([2, 2, 2, 2]) == 0.0
    assert top_share([3, 1, 1, 1], k=1) == 0.5
    spec = specialization(attribution)
    assert 0 <= spec.gini <= 1 and 0 < spec.top_share <= 1


def test_logit_lens_of_a_component_writing_the_answer_direction(subjects, examples):
    subject = subjects("llama", "arm")
    sites = [Site("mlp_out", 1), Site("head", 0, 0)]
    lens = logit_lens(subject, examples, sites=sites)
    assert lens.zscore.shape == (len(examples), 2)
    clean = pose(subject, examples)  # every token's logit, projected the long way
    acts = cache(subject, clean, sites)
    rows, read = torch.arange(len(clean)), clean.read_positions[:, 0]
    gain, w_u = subject.final_norm_module().weight.detach(), subject.unembed_module().weight.detach()
    for i, site in enumerate(sites):
        x = acts[site][rows, read]
        if site.name == "head":
            x = x @ subject.out_proj_weight(site.layer)[site.head].detach()
        logits = (x * gain) @ w_u.T
        answer = logits.gather(1, clean.answer_ids[:, :1]).squeeze(1)
        torch.testing.assert_close(lens.zscore[:, i], (answer - logits.mean(1)) / logits.std(1), atol=1e-4, rtol=1e-4)


def test_targeted_ablation_with_controls(subjects, examples):
    subject = subjects("llama", "arm")
    result = targeted_ablation(subject, examples, [Site("head", 0, 1)], n_controls=3, band=(1, 2), seed=4, max_controls=9)
    assert set(result.summary()) == {"target", "random", "same_depth", "band"}
    for family in ("random", "same_depth", "band"):
        drawn = getattr(result, family)
        precision = result.precision(family)
        assert drawn.shape[1] == len(examples) and 3 <= drawn.shape[0] <= 9 and precision["draws"] == drawn.shape[0]
        # controls are drawn until the target precision is met, or up to the cap
        assert precision["relative_halfwidth"] <= 0.10 or drawn.shape[0] == 9
    fixed = targeted_ablation(subject, examples, [Site("head", 0, 1)], n_controls=3, band=(1, 2), seed=4, max_controls=3)
    assert fixed.random.shape == (3, len(examples))
    assert torch.equal(fixed.random, result.random[:3])  # more draws extend the first ones
    only_random = targeted_ablation(subject, examples, [Site("head", 0, 1)], n_controls=3, seed=4, max_controls=3, controls=("random",))
    assert only_random.same_depth is None and only_random.band is None and set(only_random.summary()) == {"target", "random"}
    with pytest.raises(MechtestsError, match="n_controls"):
        targeted_ablation(subject, examples, [Site("head", 0, 1)], n_controls=5, max_controls=3)
    with pytest.raises(MechtestsError, match="control families"):
        targeted_ablation(subject, examples, [Site("head", 0, 1)], controls=("band",))


def test_bootstrap_is_seeded_and_covers_the_mean():
    values = np.random.default_rng(0).normal(1.0, 1.0, size=200)
    a, b = bootstrap(values, seed=3), bootstrap(values, seed=3)
    assert a == b and a.lo < a.value < a.hi and a.value == pytest.approx(values.mean())
    assert bootstrap(values, seed=4).lo != a.lo
    m, low, high = values + 1, values * 0, values * 0 + 2
    ratio = bootstrap(m, low, high, statistic=normalised)
    assert ratio.lo <= ratio.value <= ratio.hi
    with pytest.raises(MechtestsError):
        bootstrap([1.0], [1.0, 2.0])
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0) and spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_cache_keys_change_with_the_checkpoint_and_entries_roundtrip(tmp_path, monkeypatch, examples):
    monkeypatch.setenv(mcache.CACHE_DIR_ENV, str(tmp_path))
    mcache.clear_memory()
    k1 = mcache.cache_key("a" * 64, "copy", examples, "eap-ig", {"steps": 32})
    assert k1 != mcache.cache_key("b" * 64, "copy", examples, "eap-ig", {"steps": 32})
    assert k1 != mcache.cache_key("a" * 64, "copy", examples, "eap-ig", {"steps": 16})
    assert k1 != mcache.cache_key("a" * 64, "copy", examples[:-1], "eap-ig", {"steps": 32})
    monkeypatch.setattr(mechtests, "__version__", "999.0")  # a new release never reads an old entry
    assert k1 != mcache.cache_key("a" * 64, "copy", examples, "eap-ig", {"steps": 32})
    calls = []
    compute = lambda: calls.append(1) or {"scores": torch.arange(4.0)}  # noqa: E731
    first = mcache.cached(k1, compute, meta={"steps": 32})
    mcache.clear_memory()
    second = mcache.cached(k1, compute)
    assert calls == [1] and torch.equal(first["scores"], second["scores"])
    assert mcache.load(k1)[1] == {"steps": 32}
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.pkl"))


def test_workers_needing_one_entry_compute_it_once(tmp_path):
    script = (
        "import sys, time, torch; from mechtests.run import cache as c\n"
        "def compute():\n"
        "    open(sys.argv[1], 'a').write('computed\\n'); time.sleep(1.0); return {'x': torch.ones(3)}\n"
        "assert c.cached('shared', compute)['x'].sum() == 3\n"
    )
    env = {**__import__("os").environ, mcache.CACHE_DIR_ENV: str(tmp_path / "cache")}
    calls = tmp_path / "calls.txt"
    workers = [subprocess.Popen([sys.executable, "-c", script, str(calls)], env=env) for _ in range(3)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    assert calls.read_text() == "computed\n"


def test_cache_survives_concurrent_writers(tmp_path):
    script = (
        "import sys, torch; from mechtests.run import cache as c\n"
        "for i in range(20): c.store('k', {'x': torch.full((1000,), float(sys.argv[1]))}, {'w': sys.argv[1]}); c.clear_memory(); "
        "t, m = c.load('k'); assert t['x'].numel() == 1000\n"
    )
    env = {**__import__("os").environ, mcache.CACHE_DIR_ENV: str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], env=env) for i in range(3)]
    assert all(p.wait() == 0 for p in procs)
