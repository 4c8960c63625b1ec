"""The paper's comparisons between two models' circuits, and between components of one model.

- overlap: Jaccard overlap of two circuits' edge sets and node sets, against a null of random
  circuits with the same numbers of edges drawn from the same graph (seeded).
- depth profile: the share of absolute attribution in each layer, the share in the early layers,
  and the centre-of-mass depth in [0, 1] (0: first layer, 1: last).
- specialization: how concentrated attribution is over components (Gini coefficient, top-k
  share), and logit-lens alignment of single components' outputs with the answer token.
Ablating named components against controls is mechtests.measure.ablations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from mechtests.errors import MechtestsError
from mechtests.measure.attribution.eap import Attribution
from mechtests.measure.attribution.graph import Graph
from mechtests.measure.circuits import Circuit
from mechtests.measure.interventions import as_pair, cache
from mechtests.models.components import Site

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example, Posed


# --- overlap ---------------------------------------------------------------------------------------
def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b| (1.0 for two empty sets)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def jaccard_resolution(k: int) -> float:
    """The coarsest step of the Jaccard of two K-edge sets: one of K shared edges swapped out
    takes it from 1 to (K - 1) / (K + 1). With K = 10 one edge is 0.18; the budget's K rule
    (mechtests.run.budget) keeps it at most 0.05."""
    return 2.0 / (k + 1) if k > 0 else 1.0


@dataclass
class Overlap:
    """Observed Jaccard, and the null distribution's mean and 95% range from random circuits of equal sizes."""

    value: float
    null_mean: float
    null_lo: float
    null_hi: float
    p_value: float  # share of null draws >= value (with +1 smoothing)
    seed: int


def _random_edge_masks(graph: Graph, k: int, n: int, gen: torch.Generator) -> list[torch.Tensor]:
    ups, downs = graph.edge_mask.nonzero(as_tuple=True)
    masks = []
    for _ in range(n):
        pick = torch.randperm(len(ups), generator=gen)[:k]
        m = torch.zeros_like(graph.edge_mask)
        m[ups[pick], downs[pick]] = True
        masks.append(m)
    return masks


def overlap(a: Circuit, b: Circuit, level: str = "edges", n_null: int = 1000, seed: int = 0) -> Overlap:
    """Jaccard overlap of two circuits' edges (level='edges') or nodes (level='nodes') with a random-circuit null."""
    if a.graph != b.graph:
        raise MechtestsError(f"circuits come from different graphs ({a.graph} vs {b.graph})", "compare models that share a backbone shape")
    if level not in ("edges", "nodes"):
        raise MechtestsError(f"unknown overlap level {level!r}", "use 'edges' or 'nodes'")
    graph = a.graph

    def as_set(mask: torch.Tensor) -> set:
        edges = graph.edges(mask)
        return set(edges) if level == "edges" else {n for e in edges for n in e}

    value = jaccard(as_set(a.mask), as_set(b.mask))
    gen = torch.Generator().manual_seed(seed)
    ra, rb = _random_edge_masks(graph, a.k, n_null, gen), _random_edge_masks(graph, b.k, n_null, gen)
    null = np.array([jaccard(as_set(x), as_set(y)) for x, y in zip(ra, rb)])
    lo, hi = np.quantile(null, [0.025, 0.975])
    p = (1 + (null >= value).sum()) / (1 + n_null)
    return Overlap(value, float(null.mean()), float(lo), float(hi), float(p), seed)


# --- depth profile ---------------------------------------------------------------------------------
def component_attribution(scores: torch.Tensor, graph: Graph) -> torch.Tensor:
    """|attribution| of each head and MLP, (n_layers, n_heads + 1): its in- and out-edge |scores| summed.

    Last column: the MLP. Embedding and logits are left out: they sit at no layer.
    """
    mag = (scores.abs() * graph.edge_mask).float()
    out = mag.sum(1)[1:]  # (L * (H + 1),) upstream rows after embed
    into = mag.sum(0)[:-1]  # (L * (H + 1),) downstream columns before logits
    return (out + into).view(graph.n_layers, graph.n_heads + 1)


@dataclass
class DepthProfile:
    """share: (n_layers,) fraction of |attribution| per layer; early_share: in the first `early` of layers; centre: [0, 1]."""

    share: list[float]
    early_share: float
    centre: float


def depth_profile(scores: "torch.Tensor | Attribution | Circuit", graph: Graph | None = None, early: float = 1 / 3) -> DepthProfile:
    """Where attribution sits in depth. scores: an (n_up, n_down) matrix, an Attribution, or a Circuit (its edges only)."""
    if isinstance(scores, Attribution):
        graph, scores = scores.graph, scores.scores
    elif isinstance(scores, Circuit):
        graph, scores = scores.graph, scores.scores * scores.mask
    if graph is None:
        raise MechtestsError("depth_profile got a bare score matrix without its graph", "pass graph=attribution.graph")
    per_layer = component_attribution(scores, graph).sum(1)  # (L,)
    total = per_layer.sum()
    share = per_layer / total if total > 0 else torch.full_like(per_layer, float("nan"))
    L = graph.n_layers
    n_early = max(1, round(early * L))
    depth = torch.arange(L, dtype=share.dtype) / max(L - 1, 1)
    return DepthProfile(share.tolist(), float(share[:n_early].sum()), float((share * depth).sum()))


def depth_per_example(attribution: Attribution, early: float = 1 / 3) -> tuple[np.ndarray, np.ndarray]:
    """(early_share, centre) per example, for bootstrapping."""
    profiles = [depth_profile(s, attribution.graph, early) for s in attribution.per_example]
    return np.array([p.early_share for p in profiles]), np.array([p.centre for p in profiles])


# --- specialization --------------------------------------------------------------------------------
def gini(values: "torch.Tensor | Sequence[float]") -> float:
    """Gini coefficient of non-negative values: 0 for equal shares, -> 1 when one value holds all."""
    x = np.sort(np.abs(np.asarray(torch.as_tensor(values, dtype=torch.float64).flatten())))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1).dot(x) / (n * x.sum()))


def top_share(values: "torch.Tensor | Sequence[float]", k: int = 5) -> float:
    """Share of the total held by the k largest |values|."""
    x = torch.as_tensor(values, dtype=torch.float64).abs().flatten()
    total = x.sum()
    return float(x.topk(min(k, len(x))).values.sum() / total) if total > 0 else 0.0


@dataclass
class Specialization:
    gini: float
    top_share: float
    k: int


def specialization(attribution: Attribution, k: int = 5) -> Specialization:
    """Concentration of |attribution| over heads and MLPs (component_attribution)."""
    comp = component_attribution(attribution.scores, attribution.graph).flatten()
    return Specialization(gini(comp), top_share(comp, k), k)


@dataclass
class LogitLens:
    """Per component (heads then MLPs, names in `components`): z-score of the answer token's direct logit
    among all tokens (B, n)."""

    components: list[str]
    zscore: torch.Tensor

    def sharpest(self) -> tuple[str, float]:
        """The component whose output aligns most with the answer (highest mean z-score)."""
        mean = self.zscore.mean(0)
        i = int(mean.argmax())
        return self.components[i], float(mean[i])


def logit_lens(subject: "Subject", data: "Sequence[Example] | tuple[Posed, Posed]", sites: Sequence[Site] | None = None) -> LogitLens:
    """Project each component's output at the answer read positions through the final norm's gain and
    the unembedding; score how sharply it points at the (first) answer token: the z-score of its
    logit among all V tokens' (sample standard deviation). Read from the unembedding's mean row and
    covariance over the vocabulary, z = (x.w_answer - x.w_mean) / sqrt(x' C x), the same numbers as
    projecting onto every token at d x d instead of V x d per component and example (85x less on
    SmolLM2's 49k tokens; tests/measure/test_circuits_compare.py holds the two equal)."""
    clean, _ = as_pair(subject, data)
    if sites is None:
        sites = [Site("head", l, h) for l in range(subject.n_layers) for h in range(subject.n_heads)]
        sites += [Site("mlp_out", l) for l in range(subject.n_layers)]
    acts = cache(subject, clean, sites)
    read = clean.read_positions[:, 0]  # (B,)
    rows = torch.arange(len(clean))
    gain = getattr(subject.final_norm_module(), "weight", None)
    w_u = subject.unembed_module().weight.detach()  # (V, d), in its own dtype: a float64 copy would be 0.2 GB on SmolLM2
    mean = w_u.mean(0, dtype=torch.float64)
    centred = w_u - mean.to(w_u.dtype)
    cov = (centred.T @ centred).double() / (w_u.shape[0] - 1)  # (d, d)
    del centred
    w_answer = w_u[clean.answer_ids[:, 0].to(w_u.device)].double()  # (B, d)
    zs = []
    for site in sites:
        x = acts[site][rows, read]  # (B, d) or (B, d_head)
        if site.name == "head":
            x = x @ subject.out_proj_weight(site.layer)[site.head].detach()  # (B, d)
        if gain is not None:
            x = x * gain.detach()
        x = x.double().to(w_u.device)
        spread = ((x @ cov) * x).sum(1).clamp_min(1e-24).sqrt()
        zs.append(((x * w_answer).sum(1) - x @ mean) / spread)
    return LogitLens([str(s) for s in sites], torch.stack(zs, 1).float())


__all__ = [
    "DepthProfile", "LogitLens", "Overlap", "Specialization", "component_attribution", "depth_per_example", "depth_profile", "gini",
    "jaccard", "jaccard_resolution", "logit_lens", "overlap", "specialization", "top_share",
]
