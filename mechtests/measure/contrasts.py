"""The paper's comparisons between two models' circuits, and between components of one model.

- overlap: Jaccard overlap of two circuits' edge sets and node sets, against a null of random
  circuits with the same numbers of edges drawn from the same graph (seeded).
- depth profile: the share of absolute attribution in each layer, the share in the early layers,
  and the centre-of-mass depth in [0, 1] (0: first layer, 1: last).
- specialization: how concentrated attribution is over components (Gini coefficient, top-k
  share), and logit-lens alignment of single components' outputs with the answer token.
- targeted ablation: ablate named components, against random and depth-matched controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from mechtests.measure.attribution.eap import Attribution
from mechtests.measure.attribution.graph import Graph
from mechtests.measure.circuits import Circuit
from mechtests.run import budget as run_budget
from mechtests.run import progress
from mechtests.errors import MechtestsError
from mechtests.models.components import Site
from mechtests.stats import draws_halfwidth

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
    among all tokens (B, n) and its rank (0 = top) (B, n)."""

    components: list[str]
    zscore: torch.Tensor
    rank: torch.Tensor

    def sharpest(self) -> tuple[str, float]:
        """The component whose output aligns most with the answer (highest mean z-score)."""
        mean = self.zscore.mean(0)
        i = int(mean.argmax())
        return self.components[i], float(mean[i])


def logit_lens(subject: "Subject", data: "Sequence[Example] | tuple[Posed, Posed]", sites: Sequence[Site] | None = None) -> LogitLens:
    """Project each component's output at the answer read positions through the final norm's gain and
    the unembedding; score how sharply it points at the (first) answer token."""
    from mechtests.measure.interventions import as_pair, cache

    clean, _ = as_pair(subject, data)
    if sites is None:
        sites = [Site("head", l, h) for l in range(subject.n_layers) for h in range(subject.n_heads)]
        sites += [Site("mlp_out", l) for l in range(subject.n_layers)]
    acts = cache(subject, clean, sites)
    read = clean.read_positions[:, 0]  # (B,)
    rows = torch.arange(len(clean))
    gain = getattr(subject.final_norm_module(), "weight", None)
    w_u = subject.unembed_module().weight.detach()  # (V, d)
    zs, ranks = [], []
    for site in sites:
        x = acts[site][rows, read]  # (B, d) or (B, d_head)
        if site.name == "head":
            x = x @ subject.out_proj_weight(site.layer)[site.head].detach()  # (B, d)
        if gain is not None:
            x = x * gain.detach()
        logits = x @ w_u.T  # (B, V)
        answer = logits.gather(1, clean.answer_ids[:, :1]).squeeze(1)
        zs.append((answer - logits.mean(1)) / logits.std(1).clamp_min(1e-12))
        ranks.append((logits > answer[:, None]).sum(1))
    return LogitLens([str(s) for s in sites], torch.stack(zs, 1), torch.stack(ranks, 1))


# --- targeted ablation -----------------------------------------------------------------------------
# How many control sets an ablation draws. A fixed count left the controls' mean noisy enough to
# flip a "twice as causal as random" verdict between evaluation seeds (issue #12), so controls are
# drawn in batches of `n_controls` until the 95% interval of their mean effect (normal
# approximation over draws) has a half-width of at most CONTROL_PRECISION of that mean, for every
# control family, or until the run budget's control_cap draws. A family whose mean effect is near zero cannot
# reach a relative target; it stops at the cap, and `AblationComparison.precision` says so.
CONTROL_PRECISION = 0.10
CONTROL_FAMILIES = ("random", "same_depth", "band")


@dataclass
class AblationComparison:
    """Per-example effects (B,) of ablating the targets, and (n_draws, B) for each control family
    that was drawn (None for one that was not; each has as many draws as its precision target needed)."""

    target: torch.Tensor
    random: torch.Tensor | None
    same_depth: torch.Tensor | None
    band: torch.Tensor | None
    seed: int

    def summary(self) -> dict[str, float]:
        out = {"target": float(self.target.mean())}
        for name in CONTROL_FAMILIES:
            if getattr(self, name) is not None:
                out[name] = float(getattr(self, name).mean())
        return out

    def precision(self, family: str) -> dict[str, float]:
        """For a control family: its draws, and the half-width of its mean's 95% interval relative
        to the mean (the quantity the precision target bounds)."""
        return _precision(getattr(self, family))


def _precision(effects: torch.Tensor) -> dict[str, float]:
    mean, half = draws_halfwidth(effects.double().mean(1).numpy())
    return {"draws": int(effects.shape[0]), "relative_halfwidth": half / abs(mean) if mean != 0 else float("inf")}


def _pool(subject: "Subject", kind: str, layers: Sequence[int]) -> list[Site]:
    if kind == "head":
        return [Site("head", l, h) for l in layers for h in range(subject.n_heads)]
    return [Site("mlp_out", l) for l in layers]


CONTROL_DRAW = 5  # version of how control sets are drawn; part of the ablation cache key


def _draw(
    subject: "Subject", kind: str, layers: Sequence[int], taken: set[Site], targets: set[Site], gen: torch.Generator
) -> Site:
    """A control component, never a target and, while any is left, not yet in the set (a control
    ablates as many distinct components as the targets): of `kind` from `layers`; else from the
    nearest layers with one free; else of the other kind (a small model has few MLPs); else a
    non-target of `kind` again."""
    every = range(subject.n_layers)
    pool = [s for s in _pool(subject, kind, layers) if s not in taken]
    for distance in range(1, subject.n_layers):
        if pool:
            break
        near = sorted({l + d for l in layers for d in (-distance, distance)} & set(every))
        pool = [s for s in _pool(subject, kind, near) if s not in taken]
    pool = pool or [s for s in _pool(subject, "mlp" if kind == "head" else "head", every) if s not in taken]
    pool = pool or [s for s in _pool(subject, kind, every) if s not in targets]
    if not pool:
        raise MechtestsError("every component is a target, so no control set can be drawn", "ablate fewer components")
    return pool[int(torch.randint(len(pool), (1,), generator=gen))]


def control_sets(
    subject: "Subject", targets: Sequence[Site], n: int, seed: int, band: tuple[int, int] | None = None
) -> dict[str, list[list[Site]]]:
    """Seeded control sets of the targets' size and kinds, of non-target components, distinct
    while the model has enough (see `_draw`): random (any layer), same_depth (heads of the
    targets' layers; an MLP, alone in its layer, is replaced by a head of that layer; when a
    layer's heads are all targets, heads of the nearest layer) and band (layers
    band[0] <= l < band[1], e.g. the middle/late layers). The first n sets of a seed are the
    same whatever n, so drawing more extends the sets already drawn."""
    gen = torch.Generator().manual_seed(seed)
    every = list(range(subject.n_layers))
    kind = lambda t: "head" if t.name == "head" else "mlp"  # noqa: E731
    plans: dict[str, Callable[[Site], tuple[str, Sequence[int]]]] = {
        "random": lambda t: (kind(t), every),
        "same_depth": lambda t: ("head", [int(t.layer)]),  # type: ignore[arg-type]
    }
    if band is not None:
        plans["band"] = lambda t: (kind(t), list(range(*band)))
    out: dict[str, list[list[Site]]] = {"random": [], "same_depth": [], "band": []}
    forbidden = set(targets)
    for _ in range(n):
        for name, plan in plans.items():
            taken, drawn = set(forbidden), []
            for t in targets:
                site = _draw(subject, *plan(t), taken, forbidden, gen)
                taken.add(site)
                drawn.append(site)
            out[name].append(drawn)
    return out


def targeted_ablation(
    subject: "Subject",
    data: "Sequence[Example] | tuple[Posed, Posed]",
    targets: Sequence[Site],
    method: str = "zero",
    n_controls: int = 10,
    band: tuple[int, int] | None = None,
    seed: int = 0,
    precision: float = CONTROL_PRECISION,
    max_controls: int | None = None,
    controls: Sequence[str] = ("random", "same_depth"),
) -> AblationComparison:
    """Effect (m(clean) - m(ablated)) of ablating the targets together, and of equal-size control
    sets of the families in `controls` (and "band" when `band` is given): at least `n_controls`
    per family, more in batches of `n_controls` until the family's mean effect is known to
    `precision` (relative 95% half-width) or `max_controls` (default: the run budget's control_cap)
    are drawn."""
    from mechtests.measure.interventions import ablation_values, as_pair, run_with
    from mechtests.queries import answer_logits, metric

    if not targets:
        raise MechtestsError("targeted_ablation got no target components", "pass e.g. [Site('head', 0, 1)]")
    if any(t.name not in ("head", "mlp_out") for t in targets):
        raise MechtestsError("targeted_ablation ablates heads and MLPs", "pass Site('head', l, h) or Site('mlp_out', l)")
    families = tuple(dict.fromkeys([*controls, *(["band"] if band is not None else [])]))
    if not families or set(families) - set(CONTROL_FAMILIES) or ("band" in families and band is None):
        raise MechtestsError(f"unknown or unusable control families {list(controls)} (band={band})",
                             f"name some of {CONTROL_FAMILIES[:2]}; 'band' needs band=(first, last)")
    max_controls = run_budget.active().control_cap if max_controls is None else max_controls
    if n_controls < 2 or max_controls < n_controls or not precision > 0:
        raise MechtestsError(f"control draws need 2 <= n_controls <= max_controls and precision > 0, got {n_controls}, "
                             f"{max_controls}, {precision}", "pass e.g. n_controls=10, max_controls=100, precision=0.1")
    clean, _ = as_pair(subject, data)
    m_clean = metric(answer_logits(subject, clean), clean)
    values: dict[Site, torch.Tensor] = {}

    def effect(sites: Sequence[Site]) -> torch.Tensor:
        missing = sorted({s for s in sites if s not in values}, key=lambda s: s.order)
        if missing:  # one pass caches the new components' ablated values; each set then costs one pass
            values.update(ablation_values(subject, clean, missing, method, seed))
        return m_clean - metric(run_with(subject, clean, {s: values[s] for s in sites}), clean)

    effects: dict[str, list[torch.Tensor]] = {name: [] for name in families}
    drawn = 0
    while drawn < max_controls:
        drawn = min(drawn + n_controls, max_controls)
        sets = control_sets(subject, targets, drawn, seed, band)
        for name in families:
            if len(effects[name]) < n_controls or _precision(torch.stack(effects[name]))["relative_halfwidth"] > precision:
                effects[name] += [effect(s) for s in progress.iterate(sets[name][len(effects[name]):], f"{name} component sets")]
        if all(_precision(torch.stack(effects[name]))["relative_halfwidth"] <= precision for name in families):
            break
    stacked = {name: torch.stack(rows) for name, rows in effects.items()}
    return AblationComparison(effect(list(targets)), *(stacked.get(name) for name in CONTROL_FAMILIES), seed)


__all__ = [
    "AblationComparison", "CONTROL_FAMILIES", "CONTROL_PRECISION", "DepthProfile", "LogitLens", "Overlap", "Specialization", "component_attribution", "control_sets",
    "depth_per_example", "depth_profile", "gini", "jaccard", "jaccard_resolution", "logit_lens", "overlap", "specialization", "targeted_ablation", "top_share",
]
