"""Circuits from attribution scores: top-K edges, node scores, and faithfulness.

Budget. The paper keeps K = 1000 edges of 7B models, whose graphs have ~3-5 x 10^5 edges (28
layers x 28 heads: 320,307): about 0.3% of them. Our graphs are tiny (4 layers x 4 heads: 207
edges, where 0.3% is less than one edge), so a fixed K
means nothing across sizes; K is a per-model rule owned by the run budget (mechtests.run.budget):
K = max(minimum, round(fraction * n_edges)), fraction 0.0032 (the paper's share) and minimum
39 (the smallest K whose edge Jaccard resolves 0.05), capped at n_edges; the `paper` budget
also caps it at the paper's 1000. Vary it (`k=`) as the paper varies K, as a robustness check.

Faithfulness of a circuit: the metric when only its edges carry clean activations and every
other edge reads the corrupted (or mean) activation of its upstream node, normalised as
(m_circuit - m_corrupt) / (m_clean - m_corrupt): 1 means the circuit alone carries the effect.
Edges are patched with torch hooks that give every head its own input
(mechtests.measure.attribution.engine), so that heads of one layer can read different streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.run import batching, progress
from mechtests.run import budget as run_budget
from mechtests.measure.attribution.eap import Attribution, Batches, _batches, _metric
from mechtests.measure.attribution.engine import Layout, capture, patched_logits
from mechtests.measure.attribution.graph import Graph
from mechtests.errors import MechtestsError

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example, Posed


def budget(n_edges: int, fraction: float | None = None) -> int:
    """K for a graph of `n_edges` edges under the run's budget (mechtests.run.budget.Budget.k: by
    default max(10, round(0.05 * n_edges)), at most n_edges); `fraction` overrides the budget's."""
    return run_budget.active().k(n_edges, fraction)


@dataclass
class Circuit:
    """A set of edges (bool mask (n_up, n_down)) with the scores that chose them."""

    graph: Graph
    mask: torch.Tensor
    scores: torch.Tensor

    @property
    def k(self) -> int:
        return int(self.mask.sum())

    def edges(self) -> list[tuple[str, str]]:
        return self.graph.edges(self.mask)

    def nodes(self) -> set[str]:
        """Nodes touched by an edge of the circuit."""
        return {n for edge in self.edges() for n in edge}

    def node_scores(self) -> dict[str, float]:
        """Sum of a node's incoming and outgoing edge scores within the circuit (every node listed)."""
        kept = self.scores * self.mask
        out = kept.sum(1)  # (n_up,)
        into = kept.sum(0)  # (n_down,)
        result = {name: 0.0 for name in self.graph.nodes}
        for i, name in enumerate(self.graph.upstream):
            result[name] += float(out[i])
        for i, name in enumerate(self.graph.downstream):
            result[name] += float(into[i])
        return result


def _ranking(attribution: Attribution, k: int | None, fraction: float | None, absolute: bool) -> tuple[int, torch.Tensor]:
    """K (from `budget` when not given) and the (n_up, n_down) ranking key, -inf off the graph's edges."""
    graph = attribution.graph
    k = budget(graph.n_edges, fraction) if k is None else k
    if not 1 <= k <= graph.n_edges:
        raise MechtestsError(f"circuit size k={k} is outside 1..{graph.n_edges} (the graph's edges)", "pass a smaller k")
    key = attribution.scores.abs() if absolute else attribution.scores
    return k, torch.where(graph.edge_mask, key, torch.full_like(key, -math.inf))


def top_edges(attribution: Attribution, k: int | None = None, fraction: float | None = None, absolute: bool = True) -> Circuit:
    """The K highest-scoring edges (by |score| unless absolute=False); K from `budget` when not given.

    The paper's equal-size summary. It need not be connected: when the top edges miss every path
    from a component to the logits, patching only them recovers nothing (see `connected_edges`).
    """
    k, key = _ranking(attribution, k, fraction, absolute)
    mask = torch.zeros(key.numel(), dtype=torch.bool)
    mask[key.flatten().topk(k).indices] = True
    return Circuit(attribution.graph, mask.view_as(key), attribution.scores)


def connected_edges(attribution: Attribution, k: int | None = None, fraction: float | None = None, absolute: bool = True) -> Circuit:
    """K edges grown greedily back from the logits: each step adds the best-scoring edge whose
    downstream node is already in the circuit, so every edge lies on a path to the logits.

    This is the greedy construction of Hanna et al. (2024, "Have faith in faithfulness"), the
    circuit to test for faithfulness: a top-K set can keep a head's input edges while leaving
    out its path to the output, and then carries no effect at all.
    """
    k, key = _ranking(attribution, k, fraction, absolute)
    graph = attribution.graph
    down_of = {name: i for i, name in enumerate(graph.downstream)}
    reachable = torch.zeros(len(graph.downstream), dtype=torch.bool)  # downstream nodes in the circuit
    reachable[down_of["logits"]] = True
    mask = torch.zeros_like(graph.edge_mask)
    for _ in range(k):
        candidates = torch.where(reachable[None, :] & ~mask, key, torch.full_like(key, -math.inf))
        best = int(candidates.flatten().argmax())
        up, down = divmod(best, key.shape[1])
        if candidates[up, down] == -math.inf:
            break  # every edge that reaches the circuit is in it
        mask[up, down] = True
        name = graph.upstream[up]
        if name in down_of:
            reachable[down_of[name]] = True
    return Circuit(graph, mask, attribution.scores)


@dataclass
class Faithfulness:
    """value: normalised faithfulness; per-example metrics (B,) for bootstrapping with stats.normalised."""

    value: float
    circuit: torch.Tensor
    clean: torch.Tensor
    corrupted: torch.Tensor


def _graph_rows(subject: "Subject", posed: "Posed", rows_per_pass: int | None) -> int:
    """Rows per pass of the graph engine: given, or from the memory budget (mechtests.run.batching;
    the engine holds every upstream node's output per position, as EAP-IG's per-head inputs)."""
    return rows_per_pass or batching.rows_for(subject, posed.input_ids.shape[1], per_head_inputs=True)


def edge_patched_metric(
    subject: "Subject", data: "Sequence[Example] | Batches", keep: torch.Tensor, reference: str = "corrupted", denoise_steps: int = 1,
    rows_per_pass: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(m with only `keep` edges clean, m clean, m reference) per example, each (B,), mean over steps.

    keep: (n_up, n_down) bool, or (B, n_up, n_down) for a different circuit per row.
    reference: 'corrupted' (activations of the corrupted input) or 'mean' (mean over the batch
    of the corrupted activations, the same for every row). `rows_per_pass` rows per pass, or
    None for as many as the memory budget holds.
    """
    if reference not in ("corrupted", "mean"):
        raise MechtestsError(f"unknown reference {reference!r}", "use 'corrupted' or 'mean'")
    layout = Layout(subject)
    everything = torch.ones_like(layout.graph.edge_mask)
    drop = ~keep
    steps = []
    for clean, corrupt in _batches(subject, data, denoise_steps):
        rows = _graph_rows(subject, clean, rows_per_pass)

        def captured(start: int, stop: int, _rows: int, corrupt: "Posed" = corrupt) -> torch.Tensor:
            return capture(layout, corrupt.input_ids[start:stop], corrupt.attention_mask[start:stop])  # (b, T, n_up, d)

        ref = torch.cat(batching.in_batches(captured, len(corrupt), rows, f"reference activations on {subject.kind}", "examples"))
        if reference == "mean":
            ref = ref.mean(0, keepdim=True)

        def metrics(start: int, stop: int, _rows: int, clean: "Posed" = clean, ref: torch.Tensor = ref) -> torch.Tensor:
            part = clean.rows(start, stop)
            part_ref = ref if ref.shape[0] == 1 else ref[start:stop]
            part_drop = drop if drop.ndim == 2 else drop[start:stop]
            runs = progress.iterate((part_drop, ~everything, everything), "edge-patched runs (circuit, clean, reference)")
            return torch.stack([_metric(patched_logits(layout, part.input_ids, part.attention_mask, part_ref, d), part) for d in runs])

        steps.append(torch.cat(batching.in_batches(metrics, len(clean), rows, f"edge-patched passes on {subject.kind}", "examples"), dim=1))
    return tuple(torch.stack(steps).mean(0))  # type: ignore[return-value]


def faithfulness(
    subject: "Subject", data: "Sequence[Example] | Batches", circuit: Circuit | torch.Tensor, reference: str = "corrupted", denoise_steps: int = 1
) -> Faithfulness:
    """(m_circuit - m_reference) / (m_clean - m_reference), means over examples."""
    keep = circuit.mask if isinstance(circuit, Circuit) else circuit
    m_circuit, m_clean, m_ref = edge_patched_metric(subject, data, keep, reference, denoise_steps)
    gap = float(m_clean.mean() - m_ref.mean())
    if abs(gap) < 1e-12:
        raise MechtestsError("clean and corrupted inputs give the same metric, so faithfulness is undefined", "use a task whose corruption changes the answer")
    return Faithfulness(float(m_circuit.mean() - m_ref.mean()) / gap, m_circuit, m_clean, m_ref)


def edge_effects(
    subject: "Subject", data: "Sequence[Example] | Batches", edges: torch.Tensor | None = None, rows_per_pass: int | None = None
) -> torch.Tensor:
    """Measured effect of corrupting each edge alone, m(clean) - m(edge corrupted), mean over examples.

    edges: bool (n_up, n_down) mask of the edges to measure (default: all). Returns a (n_up,
    n_down) tensor, zero elsewhere. Rows for several edges share one forward pass: `rows_per_pass`
    rows, or None for as many as the memory budget holds (mechtests.run.batching).
    """
    layout = Layout(subject)
    graph = layout.graph
    wanted = graph.edge_mask if edges is None else edges & graph.edge_mask
    ups, downs = wanted.nonzero(as_tuple=True)
    effects = torch.zeros(graph.edge_mask.shape)
    for clean, corrupt in _batches(subject, data, 1):
        B = len(clean)
        ref = capture(layout, corrupt.input_ids, corrupt.attention_mask)
        base = _metric(patched_logits(layout, clean.input_ids, clean.attention_mask, ref, torch.zeros_like(wanted)), clean)
        rows = _graph_rows(subject, clean, rows_per_pass)

        def chunk(start: int, stop: int, _rows: int, clean: "Posed" = clean, ref: torch.Tensor = ref, base: torch.Tensor = base) -> None:
            u, v = ups[start:stop], downs[start:stop]
            n = len(u)
            drop = torch.zeros(n, *wanted.shape, dtype=torch.bool)
            drop[torch.arange(n), u, v] = True
            drop = drop.repeat_interleave(B, dim=0)  # (n * B, n_up, n_down)
            rep = lambda t: t.repeat(n, *[1] * (t.ndim - 1))  # noqa: E731
            from mechtests.measure.attribution.eap import repeat_posed

            posed = repeat_posed(clean, n)
            logits = patched_logits(layout, posed.input_ids, posed.attention_mask, rep(ref), drop)
            m = _metric(logits, posed).view(n, B)
            effects[u, v] += (base[None] - m).mean(1)

        batching.in_batches(chunk, len(ups), max(1, rows // B), f"edge effects on {subject.kind}", "edges")
    return effects / len(_batches(subject, data, 1))


__all__ = [
    "Circuit", "Faithfulness", "budget", "connected_edges", "edge_effects", "edge_patched_metric", "faithfulness", "top_edges",
]
