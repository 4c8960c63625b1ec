"""Circuits from attribution scores: top-K edges, node scores, and faithfulness.

Size. A circuit's K is not a fixed share of the graph: the paper's 1000 edges of a 7B graph
(~0.3%) recover almost nothing of a 30-layer 135M model's metric, and less than one edge of
the bundled pair's 207. K is chosen per model and task from the faithfulness curve
(mechtests.measure.curves: the smallest grid size that recovers the budget's target), or fixed
by the budget (`paper`: 1000); every function here takes K (`k=`) or a share of the graph
(`fraction=`) from its caller.

Faithfulness of a circuit: the metric when only its edges carry clean activations and every
other edge reads the corrupted (or mean) activation of its upstream node, normalised as
(m_circuit - m_corrupt) / (m_clean - m_corrupt): 1 means the circuit alone carries the effect.
Edges are patched with torch hooks that give every head its own input
(mechtests.measure.attribution.engine), so that heads of one layer can read different streams;
several circuits of the same examples share each pass (`stacked_metrics`), one row block per
circuit, as many rows as the memory budget holds (mechtests.run.batching).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.errors import MechtestsError
from mechtests.measure.attribution.eap import Attribution
from mechtests.measure.attribution.graph import Graph
from mechtests.measure.attribution.layout import Layout
from mechtests.measure.attribution.patching import capture, patched_logits, reference_run
from mechtests.queries import Posed, StepPairs, answer_metric, forward_logits, step_pairs
from mechtests.run import batching

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example


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


def _k(graph: Graph, k: int | None, fraction: float | None) -> int:
    """K: given, or `fraction` of the graph's edges (at least one); refused outside 1..n_edges."""
    if k is None and fraction is None:
        raise MechtestsError("a circuit needs its size", "pass k= (e.g. mechtests.study.circuit_size's) or fraction= (a share of the edges)")
    if k is None:
        if not 0.0 < fraction <= 1.0:
            raise MechtestsError(f"circuit fraction must lie in (0, 1], got {fraction}", "pass e.g. fraction=0.05")
        k = max(1, round(fraction * graph.n_edges))
    if not 1 <= k <= graph.n_edges:
        raise MechtestsError(f"circuit size k={k} is outside 1..{graph.n_edges} (the graph's edges)", "pass a smaller k")
    return k


def top_edge_indices(
    scores: torch.Tensor, graph: Graph, k: int | None = None, fraction: float | None = None, absolute: bool = True
) -> torch.Tensor:
    """Flat indices into an (n_up, n_down) score matrix of its K highest-scoring edges (by |score|
    unless absolute=False; K given or `fraction` of the edges): the top-K that `top_edges` makes a
    Circuit of, and that a statistic rebuilding a circuit on every bootstrap draw takes as it is."""
    edges = graph.edge_mask.flatten().nonzero().squeeze(1)
    key = scores.flatten()[edges]
    return edges[(key.abs() if absolute else key).topk(_k(graph, k, fraction)).indices]


def top_edges(attribution: Attribution, k: int | None = None, fraction: float | None = None, absolute: bool = True) -> Circuit:
    """The K highest-scoring edges (by |score| unless absolute=False); K given or `fraction` of the edges.

    The paper's equal-size summary. It need not be connected: when the top edges miss every path
    from a component to the logits, patching only them recovers nothing (see `connected_edges`).
    """
    graph = attribution.graph
    mask = torch.zeros(graph.edge_mask.numel(), dtype=torch.bool)
    mask[top_edge_indices(attribution.scores, graph, k, fraction, absolute)] = True
    return Circuit(graph, mask.view_as(graph.edge_mask), attribution.scores)


def connected_edges(attribution: Attribution, k: int | None = None, fraction: float | None = None, absolute: bool = True) -> Circuit:
    """K edges grown greedily back from the logits: each step adds the best-scoring edge whose
    downstream node is already in the circuit, so every edge lies on a path to the logits.

    This is the greedy construction of Hanna et al. (2024, "Have faith in faithfulness"), the
    circuit to test for faithfulness: a top-K set can keep a head's input edges while leaving
    out its path to the output, and then carries no effect at all.
    """
    graph = attribution.graph
    k = _k(graph, k, fraction)
    key = attribution.scores.abs() if absolute else attribution.scores
    key = torch.where(graph.edge_mask, key, torch.full_like(key, -math.inf))
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


def _graph_rows(subject: "Subject", posed: Posed, rows_per_pass: int | None) -> int:
    """Rows per pass of the graph engine: given, or from the memory budget (mechtests.run.batching;
    the engine holds every upstream node's output per position, as EAP-IG's per-head inputs)."""
    return rows_per_pass or batching.rows_for(subject, posed.input_ids.shape[1], per_head_inputs=True)


def stacked_metrics(
    subject: "Subject", data: "Sequence[Example] | StepPairs", keeps: torch.Tensor, reference: str = "corrupted", denoise_steps: int = 1,
    rows_per_pass: int | None = None,
) -> torch.Tensor:
    """(B, S): the metric of each example with only the edges of circuit s clean, mean over steps.

    keeps: (S, n_up, n_down) bool, one circuit per entry, or (S, B, n_up, n_down) for a circuit
    per entry and row. All S circuits of a batch of examples run in one pass, one row block each,
    so a curve of S circuit sizes costs one pass per batch, not S (where the row budget holds
    fewer than S rows, one example's circuits take as many passes as it needs). reference: 'corrupted'
    (activations of the corrupted input, captured batch by batch beside the patched pass, so that
    only a batch's are held: on 30 layers they are 35 MB per example) or 'mean' (their mean over
    the examples, the same for every row). `rows_per_pass` rows per pass (S rows per example), or
    None for as many as the memory budget holds. A curve's two ends run unpatched (`unpatched_ends`).
    """
    if reference not in ("corrupted", "mean"):
        raise MechtestsError(f"unknown reference {reference!r}", "use 'corrupted' or 'mean'")
    layout = Layout(subject)
    ends = unpatched_ends(layout.graph, keeps, reference)
    patched = [s for s in range(keeps.shape[0]) if s not in ends]
    steps = []
    for clean, corrupt in step_pairs(subject, data, denoise_steps):
        rows = _graph_rows(subject, clean, rows_per_pass)

        def captured(start: int, stop: int, corrupt: Posed = corrupt) -> tuple[torch.Tensor, torch.Tensor]:
            return reference_run(layout, corrupt.input_ids[start:stop], corrupt.attention_mask[start:stop])  # (b, T, n_up, d), logits

        mean = None
        if reference == "mean":
            sums = batching.in_batches(lambda start, stop, _rows: captured(start, stop)[0].sum(0, keepdim=True), len(corrupt), rows,
                                       f"reference activations on {subject.kind}", "examples")
            mean = torch.stack(sums).sum(0) / len(corrupt)

        def metrics(start: int, stop: int, _rows: int, clean: Posed = clean, mean: torch.Tensor | None = mean, rows: int = rows) -> torch.Tensor:
            b = stop - start
            ref, corrupted = (mean, None) if mean is not None else captured(start, stop)  # row i: example i's, read by every circuit's block
            own = clean.rows(start, stop)
            out = torch.empty(b, keeps.shape[0])
            for s, m in _end_metrics(subject, own, corrupted, ends).items():
                out[:, s] = m
            del corrupted  # (b, T, V): read, not held through the patched passes
            side_by_side = max(1, rows // b)  # circuits in one pass: all of them, or as many as the row budget holds for one example
            for first in range(0, len(patched), side_by_side):
                which = patched[first : first + side_by_side]
                block = keeps[which]
                n = len(which)
                drop = ~(block[:, start:stop] if keeps.ndim == 4 else block[:, None].expand(n, b, *keeps.shape[1:]))
                posed = own.repeat(n)  # row j * b + i: example i under circuit which[j]
                logits = patched_logits(layout, posed.input_ids, posed.attention_mask, ref, drop.reshape(n * b, *drop.shape[2:]))
                out[:, which] = answer_metric(logits, posed).view(n, b).T
            return out  # (b, S)

        per_pass = max(1, rows // max(1, len(patched)))
        steps.append(torch.cat(batching.in_batches(metrics, len(clean), per_pass, f"edge-patched passes on {subject.kind}", "examples")))
    return torch.stack(steps).mean(0)


def _end_metrics(subject: "Subject", own: Posed, corrupted: torch.Tensor | None, ends: dict[int, str]) -> dict[int, torch.Tensor]:
    """The metric of each unpatched end: the model's own pass on the clean rows (run here, once),
    or the corrupted input's pass that captured the reference (its logits, read at the clean rows' answers)."""
    clean = forward_logits(subject, own) if "clean" in ends.values() else None
    return {s: answer_metric(clean if end == "clean" else corrupted, own) for s, end in ends.items()}


def unpatched_ends(graph: Graph, keeps: torch.Tensor, reference: str) -> dict[int, str]:
    """Which circuits of `keeps` (S, n_up, n_down) need no patched pass: index -> 'clean' for one
    of every edge (the model), 'corrupted' for one of no edge with the corrupted reference (its
    every input reads the corrupted activations: the corrupted input's pass). Per-row circuits
    (S, B, n_up, n_down) are all patched."""
    if keeps.ndim != 3:
        return {}
    real = keeps & graph.edge_mask
    ends = {s: "clean" for s in range(keeps.shape[0]) if bool(real[s].sum() == graph.edge_mask.sum())}
    if reference == "corrupted":
        ends |= {s: "corrupted" for s in range(keeps.shape[0]) if not bool(real[s].any())}
    return ends


def edge_patched_metric(
    subject: "Subject", data: "Sequence[Example] | StepPairs", keep: torch.Tensor, reference: str = "corrupted", denoise_steps: int = 1,
    rows_per_pass: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(m with only `keep` edges clean, m clean, m reference) per example, each (B,): the circuit,
    every edge and no edge, side by side in one pass (`stacked_metrics`).

    keep: (n_up, n_down) bool, or (B, n_up, n_down) for a different circuit per row.
    """
    m = stacked_metrics(subject, data, _with_ends(keep), reference, denoise_steps, rows_per_pass)
    return m[:, 0], m[:, 1], m[:, 2]


def _with_ends(keep: torch.Tensor) -> torch.Tensor:
    """The circuit `keep` (n_up, n_down), or one per row (B, n_up, n_down), then every edge, then none."""
    everything = torch.ones_like(keep)
    return torch.stack([keep, everything, ~everything])


def faithfulness(
    subject: "Subject", data: "Sequence[Example] | StepPairs", circuit: Circuit | torch.Tensor, reference: str = "corrupted", denoise_steps: int = 1
) -> Faithfulness:
    """(m_circuit - m_reference) / (m_clean - m_reference), means over examples."""
    keep = circuit.mask if isinstance(circuit, Circuit) else circuit
    m_circuit, m_clean, m_ref = edge_patched_metric(subject, data, keep, reference, denoise_steps)
    gap = float(m_clean.mean() - m_ref.mean())
    if abs(gap) < 1e-12:
        raise MechtestsError("clean and corrupted inputs give the same metric, so faithfulness is undefined", "use a task whose corruption changes the answer")
    return Faithfulness(float(m_circuit.mean() - m_ref.mean()) / gap, m_circuit, m_clean, m_ref)


def edge_effects(
    subject: "Subject", data: "Sequence[Example] | StepPairs", edges: torch.Tensor | None = None, rows_per_pass: int | None = None
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
    for clean, corrupt in step_pairs(subject, data, 1):
        B = len(clean)
        ref = capture(layout, corrupt.input_ids, corrupt.attention_mask)
        base = answer_metric(patched_logits(layout, clean.input_ids, clean.attention_mask, ref, torch.zeros_like(wanted)), clean)
        rows = _graph_rows(subject, clean, rows_per_pass)

        def chunk(start: int, stop: int, _rows: int, clean: Posed = clean, ref: torch.Tensor = ref, base: torch.Tensor = base) -> None:
            u, v = ups[start:stop], downs[start:stop]
            n = len(u)
            drop = torch.zeros(n, *wanted.shape, dtype=torch.bool)
            drop[torch.arange(n), u, v] = True
            drop = drop.repeat_interleave(B, dim=0)  # (n * B, n_up, n_down)
            posed = clean.repeat(n)  # row j * B + i: example i with edge j dropped, reading reference row i
            logits = patched_logits(layout, posed.input_ids, posed.attention_mask, ref, drop)
            m = answer_metric(logits, posed).view(n, B)
            effects[u, v] += (base[None] - m).mean(1)

        batching.in_batches(chunk, len(ups), max(1, rows // B), f"edge effects on {subject.kind}", "edges")
    return effects / len(step_pairs(subject, data, 1))


__all__ = [
    "Circuit", "Faithfulness", "connected_edges", "edge_effects", "edge_patched_metric", "faithfulness", "stacked_metrics", "top_edge_indices",
    "top_edges", "unpatched_ends",
]
