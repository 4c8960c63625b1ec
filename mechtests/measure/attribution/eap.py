"""Edge attribution patching (EAP) and EAP with integrated gradients (EAP-IG).

score(u -> v) = (a_u(clean) - a_u(corrupted)) . mean_alpha d m / d x_v, summed over positions
and averaged over examples, where a_u is what node u writes into the residual stream, x_v the
input of node v (through v alone) and m the task metric read through the query layer
(mechtests.queries.metric: logit difference, or probability mass; an MDM is read at its masked
answer positions). A score estimates m(clean) - m(clean with that edge corrupted).

- EAP: one gradient, at the clean input.
- EAP-IG: `steps` gradients along the straight line from the corrupted to the clean input
  embeddings (the residual stream entering layer 0), at the midpoints alpha = (i + 0.5) / steps.
  By completeness, the embedding node's outgoing scores sum to about m(clean) - m(corrupted).
- Node scores: a node's outgoing edge scores summed, which equals (a_u(clean) - a_u(corrupted))
  . d m / d resid where u writes: node-level attribution patching.
- With `denoise_steps` > 1 an MDM is measured at each step of a k-step denoising schedule
  (mechtests.queries.posed_steps) and the scores are averaged over steps.

Cost, per batch of b examples with R = k * b rows per gradient pass (`memory_lower_bound`):
one no-grad pass over the 2b clean and corrupted rows, then steps / k forward+backward passes.
A gradient pass runs the model's own modules, as the bare model does, and unembeds only the
positions the metric reads (mechtests.queries.read_only_answers); each head's input gradient is
summed over passes in head space and projected once per batch (mechtests.measure.attribution.gradsum).
On a CPU the default batching takes one interpolation step per pass (`attribute`).
Memory beyond a bare forward+backward pass of R rows (the floor of any IG implementation)
that this method must hold at once:
  per pass: the gradients at the MLP and final-norm inputs, every
  layer's q/k/v outputs (the head-space dot products read them when
  their gradients arrive) and one layer's q/k/v output gradients      R * T * ((L + 1) * d + (L + 1) * F)
  across passes: clean - corrupted upstream outputs, the running
  gradient sums and the head-space sums                               b * T * ((n_up + n_down) * d + L * F)
  the per-example edge scores                                         b * n_up * n_down
(floats of the accumulation dtype; T tokens, L layers, d the model width, F = (H + 2 H_kv) * d_head
the q/k/v output width). One autograd call returns every layer's q/k/v output gradients, so the
engine holds L * F of them per position where F would do. Until session 8 a gradient pass built
each head's input gradient in every pass (one layer's, R * T * H * d, in scratch memory) instead
of the head-space sums; until session 5 it also held each head's normalised input. Upstream
differences are written layer chunk by layer chunk into one tensor as the captured outputs are
released, and the weights take no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.errors import MechtestsError
from mechtests.measure.attribution.engine import GraphRun, frozen_weights
from mechtests.measure.attribution.gradsum import ACCUMULATE, GradientSum
from mechtests.measure.attribution.graph import Graph, graph_for
from mechtests.measure.attribution.layout import Layout
from mechtests.queries import Posed, StepPairs, answer_metric, read_only_answers, step_pairs
from mechtests.run import batching, progress

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example

BLOCK_COLUMNS = 64  # edge products: the narrowest column block worth a product of its own (`edge_products`)


@dataclass
class Attribution:
    """Edge scores of one model on one batch of examples.

    scores: (n_up, n_down), zero off the graph's edges; per_example: (B, n_up, n_down).
    metric_clean, metric_corrupted: (B,) the metric on the unpatched inputs (mean over steps).
    """

    graph: Graph
    scores: torch.Tensor
    per_example: torch.Tensor
    metric_clean: torch.Tensor
    metric_corrupted: torch.Tensor
    method: str
    steps: int
    denoise_steps: int

    @property
    def node_scores(self) -> torch.Tensor:
        """(n_up,) node-level attribution: outgoing edge scores summed."""
        return self.scores.sum(1)

    def completeness(self) -> tuple[float, float]:
        """(sum of the embedding's outgoing scores, mean m(clean) - m(corrupted)); IG makes them agree."""
        return float(self.scores[0].sum()), float((self.metric_clean - self.metric_corrupted).mean())


def integrated_grads(layout: Layout, clean: Posed, embed_clean: torch.Tensor, embed_corrupt: torch.Tensor, alphas: torch.Tensor, rows: int) -> torch.Tensor:
    """Mean over alphas of the downstream input gradients, (B, T, n_down, d) in ACCUMULATE, with
    max(1, rows // B) interpolation steps per pass (B * steps rows)."""
    B, T = len(clean), clean.input_ids.shape[1]
    per_pass = max(1, rows // B)
    sums = GradientSum(layout, B, T, embed_clean.device)
    for start in progress.iterate(range(0, len(alphas), per_pass), "integrated-gradient passes"):
        a = alphas[start : start + per_pass].to(embed_clean.dtype)  # (k,)
        k = len(a)
        embed = embed_corrupt + a.view(k, 1, 1, 1) * (embed_clean - embed_corrupt)  # (k, B, T, d)
        embed = embed.reshape(k * B, *embed.shape[2:]).requires_grad_(True)
        posed = clean.repeat(k)
        inputs, (read,) = read_only_answers(layout.subject, posed.input_ids, posed.attention_mask, posed)
        with torch.enable_grad(), frozen_weights(layout.subject.model), GraphRun(layout, embed=embed, record_grads=True, capture_up=False) as run:
            logits = layout.subject.model(**inputs).logits
        sums.add(run.gradients(answer_metric(logits, read).sum()))
        del logits, run, embed
    return sums.result().div_(len(alphas))


def _edge_scores(layout: Layout, clean: Posed, corrupt: Posed, alphas: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(edge scores (B, n_up, n_down), m(clean) (B,), m(corrupted) (B,)) of one batch."""
    B = len(clean)
    both = torch.cat([clean.input_ids, corrupt.input_ids]), torch.cat([clean.attention_mask, corrupt.attention_mask])
    inputs, (read_clean, read_corrupt) = read_only_answers(layout.subject, *both, clean, corrupt)
    with torch.no_grad(), GraphRun(layout) as run:  # one pass over clean and corrupted: activations and metrics
        logits = layout.subject.model(**inputs).logits  # (2B, kept positions, V)
    m_clean, m_corrupt = answer_metric(logits[:B], read_clean), answer_metric(logits[B:], read_corrupt)
    embed = run.stream_in  # (2B, T, d)
    embed_clean, embed_corrupt = embed[:B].clone(), embed[B:].clone()
    delta = run.up_difference(B, ACCUMULATE)  # (B, n_up, T, d)
    del run, logits, embed
    grads = integrated_grads(layout, clean, embed_clean, embed_corrupt, alphas, rows)  # (B, n_down, T, d)
    return edge_products(layout.graph, delta, grads), m_clean, m_corrupt


def edge_products(graph: Graph, delta: torch.Tensor, grads: torch.Tensor, block_columns: int = BLOCK_COLUMNS) -> torch.Tensor:
    """(B, n_up, n_down): delta[b, u] . grads[b, v] summed over positions and width, for node-major
    delta (B, n_up, T, d) and grads (B, n_down, T, d), zero off the graph's edges. Computed in
    column blocks of whole layers, each against the upstream nodes that write before its last
    layer reads (a prefix of the rows), so that most products off the edges are never taken.
    A block spans at least `block_columns` columns: a narrower product runs far below the CPU's
    peak (BENCHMARKS.md, bench/edge_products.py: on SmolLM2's graph one layer a block takes 2.7x
    the time of the default blocks, the full matrix 1.1x)."""
    B, n_up, n_down = delta.shape[0], delta.shape[1], grads.shape[1]
    up, down = delta.flatten(2), grads.flatten(2)  # (B, n, T * d) views, contiguous rows
    width = graph.n_heads + 1  # a layer's heads and its MLP; after the last layer, the logits
    layers = -(-block_columns // width)
    mask = graph.edge_mask.to(delta.device)
    if layers > graph.n_layers:  # one block: the full product, with no copy into place
        return torch.bmm(up, down.transpose(1, 2)) * mask
    out = torch.zeros(B, n_up, n_down, dtype=delta.dtype, device=delta.device)
    for first in range(0, graph.n_layers + 1, layers):
        cols = slice(first * width, min((first + layers) * width, n_down))
        rows = min(1 + (first + layers - 1) * width + graph.n_heads, n_up)  # embed, earlier layers, the block's heads
        out[:, :rows, cols] = torch.bmm(up[:, :rows], down[:, cols].transpose(1, 2))
    return out * mask


def memory_lower_bound(subject: "Subject", examples: int, rows: int, seq_len: int) -> int:
    """Bytes EAP-IG must hold beyond a bare forward+backward pass of `rows` rows (module docstring),
    for `examples` examples per batch and `rows` rows per gradient pass."""
    L, d, T = subject.n_layers, subject.d_model, seq_len
    F = sum(subject.qkv_rows())  # q/k/v output width
    graph = graph_for(subject)
    n_up, n_down = len(graph.upstream), len(graph.downstream)
    size = torch.finfo(ACCUMULATE).bits // 8
    per_pass = rows * T * ((L + 1) * d + (L + 1) * F)
    across = examples * T * ((n_up + n_down) * d + L * F) + examples * n_up * n_down
    return size * (per_pass + across)


def attribute(
    subject: "Subject",
    data: "Sequence[Example] | StepPairs",
    steps: int = 32,
    method: str = "eap-ig",
    denoise_steps: int = 1,
    batch_size: int | None = None,
) -> Attribution:
    """EAP (`method='eap'`) or EAP-IG with `steps` interpolation steps; see the module docstring.

    data: Examples (posed clean/corrupted through the query layer) or explicit (clean,
    corrupted) Posed pairs, one per denoising step. batch_size: rows per forward pass (examples
    times interpolation steps); None picks it from the memory budget (mechtests.run.batching), with
    one interpolation step per pass on a CPU, and an out-of-memory error halves it. Results do
    not depend on it beyond float rounding. Suites take it cached on disk through
    mechtests.study.attribution.
    """
    if method not in ("eap", "eap-ig"):
        raise MechtestsError(f"unknown attribution method {method!r}", "use 'eap' or 'eap-ig'")
    if method == "eap-ig" and steps < 1:
        raise MechtestsError(f"EAP-IG needs steps >= 1, got {steps}", "pass e.g. steps=32")
    layout = Layout(subject)
    alphas = torch.tensor([1.0]) if method == "eap" else (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    pairs = step_pairs(subject, data, denoise_steps)
    # On a CPU a pass of several interpolation steps is slower per row than one step per pass
    # (BENCHMARKS.md, #14: 64 rows 1.75x the floor against 8 rows 1.5x), so the budget's rows
    # go to examples there, one step per pass; a GPU fills its passes with steps.
    one_step = batch_size is None and subject.device.type == "cpu"
    if batch_size is None:
        T = pairs[0][0].input_ids.shape[1]
        batch_size = batching.rows_for(subject, T, grad=True, per_head_inputs=True)
    per_example, m_clean, m_corrupt = [], [], []
    for clean, corrupt in pairs:
        def chunk(start: int, stop: int, rows: int, clean: Posed = clean, corrupt: Posed = corrupt) -> tuple[torch.Tensor, ...]:
            rows = stop - start if one_step else rows
            return _edge_scores(layout, clean.rows(start, stop), corrupt.rows(start, stop), alphas, rows)

        parts = batching.in_batches(chunk, len(clean), batch_size, f"{method} on {subject.kind}", "examples")
        per_example.append(torch.cat([p[0] for p in parts]))
        m_clean.append(torch.cat([p[1] for p in parts]))
        m_corrupt.append(torch.cat([p[2] for p in parts]))
    per = torch.stack(per_example).mean(0).detach()  # mean over denoising steps
    return Attribution(
        graph=layout.graph, scores=per.mean(0), per_example=per,
        metric_clean=torch.stack(m_clean).mean(0).detach(), metric_corrupted=torch.stack(m_corrupt).mean(0).detach(),
        method=method, steps=1 if method == "eap" else steps, denoise_steps=len(pairs),
    )


def eap(subject: "Subject", data: "Sequence[Example] | StepPairs", denoise_steps: int = 1, batch_size: int | None = None) -> Attribution:
    """Edge attribution patching: gradient at the clean input."""
    return attribute(subject, data, method="eap", denoise_steps=denoise_steps, batch_size=batch_size)


def eap_ig(
    subject: "Subject", data: "Sequence[Example] | StepPairs", steps: int = 32, denoise_steps: int = 1, batch_size: int | None = None
) -> Attribution:
    """EAP with integrated gradients over `steps` points between corrupted and clean embeddings."""
    return attribute(subject, data, steps=steps, method="eap-ig", denoise_steps=denoise_steps, batch_size=batch_size)
