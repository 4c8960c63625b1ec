"""EAP-IG: completeness on the input embeddings, and edge scores against patching each edge alone."""

from __future__ import annotations

import pytest
import torch

from mechtests.measure.attribution import Graph, Layout, capture, eap, eap_ig, patched_logits
from mechtests.measure.circuits import edge_effects, edge_patched_metric, stacked_metrics, unpatched_ends
from mechtests.measure.interventions import patch
from mechtests.models import Site
from mechtests.queries import answer_metric, gather_answer_logits, metric, pose
from mechtests.stats import spearman
from measure_helpers import bundled


def head_row(graph: Graph, layer: int, head: int) -> int:
    """The upstream row of head (layer, head)."""
    return graph.upstream.index(f"a{layer}.h{head}")


def completeness_error(attribution) -> float:
    total, gap = attribution.completeness()
    return abs(total - gap) / abs(gap)


@pytest.mark.parametrize("family,variant", [("llama", "arm"), ("llama", "mdm"), ("gpt2", "arm"), ("qwen2", "mdm-same")])
def test_eap_ig_completeness_improves_with_steps(subjects, examples, family, variant):
    subject = subjects(family, variant)
    errors = [completeness_error(eap_ig(subject, examples, steps=k)) for k in (1, 32)]
    assert errors[1] < 0.01, errors
    assert errors[1] <= errors[0] + 1e-6, errors


def test_eap_ig_edge_scores_rank_like_patching_each_edge_alone(subjects, examples):
    subject = subjects("llama", "arm")  # 2 layers, 4 heads: 54 edges
    attribution = eap_ig(subject, examples, steps=16)
    effects = edge_effects(subject, examples)
    mask = attribution.graph.edge_mask
    rho = spearman(attribution.scores[mask], effects[mask])
    assert rho > 0.9, rho


def test_edge_patching_all_of_a_heads_outgoing_edges_equals_patching_the_head(subjects, examples):
    """The hook engine (per-head inputs) against nnsight node patching."""
    subject = subjects("llama", "mdm")
    layout = Layout(subject)
    g = layout.graph
    keep = torch.ones_like(g.edge_mask)
    keep[head_row(g, 0, 3)] = False
    m_edges, m_clean, m_corrupt = edge_patched_metric(subject, examples, keep)
    m_node = patch(subject, examples, [Site("head", 0, 3)]).intervened
    torch.testing.assert_close(m_edges, m_node, atol=1e-5, rtol=1e-4)
    corrupt = pose(subject, examples, corrupted=True)
    with torch.no_grad():
        plain_corrupt = metric(gather_answer_logits(subject.model(**corrupt.model_inputs(subject)).logits, corrupt), corrupt)
    torch.testing.assert_close(m_corrupt, plain_corrupt, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", ["arm", "mdm"])
def test_a_curves_ends_run_unpatched_with_the_values_patching_gives(subjects, examples, variant):
    """The circuit of every edge runs as a plain forward, the one of no edge is read from the
    corrupted pass that captures the reference: the metrics patching them would give."""
    subject = subjects("llama", variant)
    layout = Layout(subject)
    g = layout.graph
    some = torch.rand(g.edge_mask.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    keeps = torch.stack([torch.ones_like(g.edge_mask), some, torch.zeros_like(g.edge_mask)])
    assert unpatched_ends(g, keeps, "corrupted") == {0: "clean", 2: "corrupted"}
    assert unpatched_ends(g, keeps, "mean") == {0: "clean"}
    clean, corrupt = pose(subject, examples), pose(subject, examples, corrupted=True)
    ref = capture(layout, corrupt.input_ids, corrupt.attention_mask)
    patched = [answer_metric(patched_logits(layout, clean.input_ids, clean.attention_mask, ref, ~keep), clean) for keep in keeps]
    torch.testing.assert_close(stacked_metrics(subject, examples, keeps), torch.stack(patched, 1), atol=1e-5, rtol=1e-4)


def test_a_head_reading_a_corrupted_input_changes_only_through_that_head(subjects, examples):
    subject = subjects("llama", "arm")
    layout = Layout(subject)
    g = layout.graph
    clean, corrupt = pose(subject, examples), pose(subject, examples, corrupted=True)
    ref = capture(layout, corrupt.input_ids, corrupt.attention_mask)
    drop = torch.zeros_like(g.edge_mask)
    drop[0, g.down_index(1, 0)] = True  # embed -> head 1.0 only
    logits = patched_logits(layout, clean.input_ids, clean.attention_mask, ref, drop)
    with torch.no_grad(), __import__("mechtests").attribution.GraphRun(layout, reference=ref, drop=drop) as run:
        subject.model(**clean.model_inputs(subject))
    base = capture(layout, clean.input_ids, clean.attention_mask)
    changed = (run.up - base).abs().amax(dim=(0, 1, 3)) > 1e-6  # which upstream outputs moved
    heads_1 = [head_row(g, 1, h) for h in range(g.n_heads)]
    assert changed[head_row(g, 1, 0)] and not changed[heads_1[1:]].any() and not changed[: head_row(g, 1, 0)].any()
    assert logits.shape[0] == len(examples)


def test_a_batch_of_circuit_blocks_reads_one_copy_of_the_reference(subjects, examples):
    """Rows s * b + i (example i under circuit s) read reference row i: the same logits as the
    reference repeated for every block, without the copy."""
    subject = subjects("llama", "arm")
    layout = Layout(subject)
    clean, corrupt = pose(subject, examples), pose(subject, examples, corrupted=True)
    ref = capture(layout, corrupt.input_ids, corrupt.attention_mask)
    blocks = 3
    drop = torch.rand(blocks * len(clean), *layout.graph.edge_mask.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    posed = clean.repeat(blocks)
    tiled = patched_logits(layout, posed.input_ids, posed.attention_mask, ref, drop)
    repeated = patched_logits(layout, posed.input_ids, posed.attention_mask, ref.repeat(blocks, 1, 1, 1), drop)
    torch.testing.assert_close(tiled, repeated, rtol=0, atol=0)


def test_eap_differs_from_eap_ig_and_node_scores_sum_outgoing_edges(subjects, examples):
    subject = subjects("llama", "arm")
    a, b = eap(subject, examples), eap_ig(subject, examples, steps=4)
    assert a.method == "eap" and not torch.allclose(a.scores, b.scores)
    torch.testing.assert_close(b.node_scores, b.scores.sum(1))
    assert b.per_example.shape == (len(examples), *b.graph.edge_mask.shape)


def test_denoising_steps_are_aggregated(subjects):
    from measure_helpers import copy_examples
    from mechtests.queries import Example

    subject = subjects("llama", "mdm")
    base = copy_examples(4, length=12, seed=9)
    two = [Example(tokens=e.tokens[:-2] + (e.tokens[3], e.tokens[4]), answer_positions=(10, 11), wrong=(7, 8),
                   corrupted=e.corrupted[:-2] + (e.tokens[3], e.tokens[4])) for e in base]
    result = eap_ig(subject, two, steps=8, denoise_steps=2)
    assert result.denoise_steps == 2
    assert completeness_error(result) < 0.02


@pytest.mark.parametrize("kind", ["arm", "mdm"])
def test_bundled_pair_eap_ig_completeness_below_5_percent_at_32_steps(kind):
    subject = bundled(kind)
    from mechtests.tasks import TaskSet

    tasks = TaskSet(subject.tokenizer, n=16, seed=0)
    for name in ("induction", "ioi"):
        result = eap_ig(subject, tasks[name], steps=32)
        error = completeness_error(result)
        total, gap = result.completeness()
        print(f"bundled {kind} {name}: sum(embed edges) = {total:.4f}, m(clean) - m(corrupted) = {gap:.4f}, error {100 * error:.2f}%")
        assert error < 0.05


def test_eap_ig_leaves_the_weights_trainable_and_accumulates_in_fp32_for_a_bf16_model(tiny_paths, examples):
    import mechtests

    subject = mechtests.load_subject(tiny_paths["llama", "arm"])
    # Cast after loading: load_subject(dtype="bfloat16") is refused by the models' load-time check
    # that attention sums to 1, whose tolerance is fp32's (reported to the lead).
    subject.model.to(torch.bfloat16)
    result = eap_ig(subject, examples, steps=8)
    assert all(p.requires_grad for p in subject.model.parameters())
    assert result.per_example.dtype == torch.float32
    reference = eap_ig(mechtests.load_subject(tiny_paths["llama", "arm"]), examples, steps=8)
    assert spearman(result.scores[result.graph.edge_mask], reference.scores[reference.graph.edge_mask]) > 0.9


def test_the_memory_lower_bound_counts_one_passs_gradients_differences_and_scores(subjects):
    from mechtests.measure.attribution.eap import memory_lower_bound

    subject = subjects("llama", "arm")  # 2 layers, 4 heads, d 32: 11 upstream, 11 downstream nodes
    L, d, T = 2, 32, 12
    F = 3 * d  # q, k and v outputs, no grouped-query attention
    expected = 4 * (16 * T * ((L + 1) * d + (L + 1) * F) + 8 * T * ((11 + 11) * d + L * F) + 8 * 11 * 11)
    assert memory_lower_bound(subject, examples=8, rows=16, seq_len=T) == expected


@pytest.mark.parametrize("n_layers, n_heads", [(2, 4), (20, 9)])  # one block; several blocks and a ragged last one
def test_edge_products_in_blocks_equal_the_full_product_on_the_edges(n_layers, n_heads):
    from mechtests.measure.attribution.eap import edge_products

    graph = Graph(n_layers, n_heads)
    gen = torch.Generator().manual_seed(0)
    delta = torch.randn(3, len(graph.upstream), 4, 5, generator=gen)
    grads = torch.randn(3, len(graph.downstream), 4, 5, generator=gen)
    full = torch.einsum("butd,bvtd->buv", delta, grads) * graph.edge_mask
    torch.testing.assert_close(edge_products(graph, delta, grads), full, rtol=1e-5, atol=1e-5)
