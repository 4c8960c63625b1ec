"""The paper's pipeline, computed once and shared by every hypothesis that needs it.

- Which examples: the common-correct pool (examples both models of the pair answer correctly,
  the first `size` of them, as the paper's 500), or one model's own correct examples. A pool
  smaller than the run budget's minimum makes the hypothesis that asked for it not applicable.
- How much work: every size, step count and draw count defaults to the active run budget
  (mechtests.run.budget), and enters the cache keys through the examples and parameters it sets.
- Each model's EAP-IG attribution on a task, kept in memory and on disk (mechtests.run.cache),
  keyed by the weights' sha256, the task, the examples and every parameter, so that xdist
  workers and later runs reuse it and a new checkpoint never gets a stale result.
- Each attribution's faithfulness curve (mechtests.measure.curves), cached the same way and
  measured in sequential rounds, and the circuit size K it picks: the smallest grid size whose
  faithfulness is decided to clear the budget's target, unless the budget fixes K. A comparison
  of two models takes the larger of their two Ks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch

from mechtests.claims.outcomes import NotApplicable
from mechtests.errors import MechtestsError
from mechtests.measure.ablation_rounds import AblationRounds, ablation_rounds
from mechtests.measure.ablations import CONTROL_DRAW, CONTROL_FAMILIES, CONTROL_PRECISION, AblationComparison, targeted_ablation
from mechtests.measure.attribution import Attribution, Graph, attribute, graph_for
from mechtests.measure.circuits import top_edge_indices
from mechtests.measure.curves import CircuitSize, Curve, CurveRounds, grid_sizes, measure_curve, measure_ends, measure_size, smallest_faithful
from mechtests.measure.contrasts import component_attribution, depth_per_example, depth_profile, gini, jaccard
from mechtests.models import Site
from mechtests.queries import Example, evaluate
from mechtests.run import budget as run_budget
from mechtests.run import cache, progress
from mechtests.stats import RESAMPLES, resample_indices, sequential
from mechtests.tasks import TASKS

if TYPE_CHECKING:
    from mechtests.models.subject import Subject


def correctness(subject: "Subject", task: str, examples: Sequence[Example]) -> torch.Tensor:
    """(N,) bool: does `subject` answer each example correctly (cached)."""
    return scores(subject, task, examples)[1]


def scores(subject: "Subject", task: str, examples: Sequence[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) task metric and (N,) bool correct of `subject` on each example, from one cached
    evaluation: the entry `mechtests eval` fills is the one the suites' pools read."""
    key = cache.cache_key(subject, task, examples, "scores")  # not "correct": entries of that name hold no metric
    stored = cache.cached(key, lambda: dict(zip(("metric", "correct"), evaluate(subject, examples))))
    return stored["metric"], stored["correct"].bool()


def common_pool(arm: "Subject", mdm: "Subject", task: str, examples: Sequence[Example], size: int | None = None) -> list[Example]:
    """The first `size` (default: the budget's pool size) examples that both models answer correctly."""
    progress.step(f"common-correct pool: {task}")
    both = correctness(arm, task, examples) & correctness(mdm, task, examples)
    return _pool(examples, both.tolist(), size, f"{task}: both models answer {{n}} of {len(examples)} candidates correctly")


def own_pool(subject: "Subject", task: str, examples: Sequence[Example], size: int | None = None) -> list[Example]:
    """The first `size` (default: the budget's pool size) examples that `subject` answers correctly."""
    progress.step(f"correct examples: {task} ({subject.kind})")
    ok = correctness(subject, task, examples).tolist()
    return _pool(examples, ok, size, f"{task}: the {subject.kind.upper()} answers {{n}} of {len(examples)} candidates correctly")


def _pool(examples: Sequence[Example], correct: Sequence[bool], size: int | None, says: str) -> list[Example]:
    """The first `size` correct examples; NotApplicable (with the pool size) below the budget's minimum."""
    run = run_budget.active()
    right = [ex for ex, ok in zip(examples, correct) if ok]
    if len(right) < max(run.min_pool, 1):
        raise NotApplicable(f"{says.format(n=len(right))}, below the {run.name} budget's minimum pool of {run.min_pool}")
    return right[: run.pool_size if size is None else size]


def attribution(
    subject: "Subject", task: str, examples: Sequence[Example], steps: int | None = None, denoise_steps: int = 1
) -> Attribution:
    """EAP-IG edge scores of `subject` on `examples` (cached in memory and on disk); `steps`
    defaults to the budget's."""
    steps = run_budget.active().ig_steps if steps is None else steps
    params = {"steps": steps, "denoise_steps": denoise_steps}
    key = cache.cache_key(subject, task, examples, "eap-ig", params)

    def compute() -> dict[str, torch.Tensor]:
        progress.step(f"EAP-IG {task} ({subject.kind})")
        result = attribute(subject, examples, steps=steps, method="eap-ig", denoise_steps=denoise_steps)
        return {
            "per_example": result.per_example, "metric_clean": result.metric_clean,
            "metric_corrupted": result.metric_corrupted, "denoise_steps": torch.tensor(result.denoise_steps),
        }

    stored = cache.cached(key, compute, meta={"task": task, "method": "eap-ig", **params, "model": subject.path})
    per_example = stored["per_example"]
    return Attribution(
        graph=graph_for(subject), scores=per_example.mean(0), per_example=per_example,
        metric_clean=stored["metric_clean"], metric_corrupted=stored["metric_corrupted"],
        method="eap-ig", steps=steps, denoise_steps=int(stored["denoise_steps"]),
    )


def faithfulness_curve(subject: "Subject", task: str, examples: Sequence[Example], attributed: Attribution,
                       whole_first: bool = True) -> CurveRounds:
    """The faithfulness curve of the circuits `attributed` ranks, edge-patched on the first
    `check_pool` of `examples` at the budget's `faithfulness_grid`, in rounds (curves.CurveRounds):
    the whole curve on the first look's stretch, a size alone on each later stretch that a
    decision grows into; `whole_first=False` (circuit sizing) a size alone on every stretch.
    Each stretch's measurement is cached, so a curve grown from one look to the next patches only
    the new examples (with sequential decisions off, one stretch: the whole pool)."""
    run = run_budget.active()
    patched = list(examples)[: run.check_pool]
    scores = attributed.scores * _toward_the_model(attributed)
    ranked = cache.checksum({"scores": scores})
    looks = sequential.design(len(patched), run.first_round)[0] if sequential.active() and len(patched) > run.first_round else (len(patched),)
    sizes = grid_sizes(attributed.graph.n_edges, run.faithfulness_grid)

    def kept(stretch: tuple[int, int], method: str, params: dict[str, Any], what: str,
             compute: Callable[[list[Example]], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        start, stop = stretch
        key = cache.cache_key(subject, task, patched[start:stop], method, params)

        def measured() -> dict[str, torch.Tensor]:
            progress.step(f"{what} {task} ({subject.kind}), examples {start + 1}-{stop}")
            return compute(patched[start:stop])

        return cache.cached(key, measured, meta={"task": task, "method": method, **params, "model": subject.path})

    def whole(stretch: tuple[int, int]) -> Curve:
        def compute(data: list[Example]) -> dict[str, torch.Tensor]:
            curve = measure_curve(subject, data, scores, attributed.graph, run.faithfulness_grid)
            return {"signed": curve.signed, "absolute": curve.absolute, "clean": curve.clean, "empty": curve.empty}

        got = kept(stretch, "faithfulness-curve", {"grid": list(run.faithfulness_grid), "scores": ranked}, "faithfulness curve", compute)
        return Curve(tuple(run.faithfulness_grid), sizes, got["signed"], got["absolute"], got["clean"], got["empty"])

    def size(stretch: tuple[int, int], s: int) -> torch.Tensor:
        return kept(stretch, "faithfulness-size", {"edges": sizes[s], "scores": ranked}, f"faithfulness at {sizes[s]} edges",
                    lambda data: {"m": measure_size(subject, data, scores, attributed.graph, sizes[s])})["m"]

    def ends(stretch: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        got = kept(stretch, "faithfulness-ends", {}, "faithfulness ends",
                   lambda data: dict(zip(("clean", "empty"), measure_ends(subject, data, attributed.graph))))
        return got["clean"], got["empty"]

    return CurveRounds(looks, run.faithfulness_grid, sizes, whole, size, ends, whole_first=whole_first)


def _toward_the_model(attributed: Attribution) -> float:
    """+1, or -1 where the corrupted input scores higher than the clean one (greater-than's
    metric can): an edge's score estimates its share of m(clean) - m(corrupted), so this sign
    makes a positive score one that moves the metric toward the model's, as CPR's signed ranking
    means (MIB's metrics are higher on the clean input)."""
    return 1.0 if float(attributed.metric_clean.mean()) >= float(attributed.metric_corrupted.mean()) else -1.0


def circuit_size(subject: "Subject", task: str, examples: Sequence[Example], attributed: Attribution, seed: int) -> CircuitSize:
    """K for `subject`'s circuit on `task`: the budget's fixed_k (at most the graph's edges), or the
    smallest grid size whose faithfulness interval clears the budget's target (curves.smallest_faithful)."""
    run = run_budget.active()
    if run.fixed_k is not None:
        k = min(run.fixed_k, attributed.graph.n_edges)
        return CircuitSize(k, f"K={k}: fixed by the {run.name} budget (fixed_k={run.fixed_k}, at most the graph's {attributed.graph.n_edges} edges)")
    return smallest_faithful(faithfulness_curve(subject, task, examples, attributed, whole_first=False), run.faithfulness_target, seed)


def pair_circuit_size(models: Sequence["Subject"], task: str, examples: Sequence[Example], attributed: Sequence[Attribution], seed: int) -> CircuitSize:
    """One K for comparing the models' circuits on `task`: the larger of their Ks, so that both
    circuits clear the target; the reason names each model's."""
    sizes = [circuit_size(model, task, examples, a, seed) for model, a in zip(models, attributed)]
    k = max(size.k for size in sizes)
    return CircuitSize(k, f"K={k}, the larger of the models' ({'; '.join(f'{m.kind.upper()} {s.why}' for m, s in zip(models, sizes))})")


# --- pair-level statistics over the shared pool -----------------------------------------------------
EARLY = 0.5  # "early layers" in the suites: the first half of the layers (layers 0-1 of 4)

def regime_of(task: str) -> str:
    """'prefix-dominant' or 'globally-constrained'."""
    return TASKS[task].regime


def tasks_in(regime: str) -> list[str]:
    return [name for name, task in TASKS.items() if task.regime == regime]


def resampled(attributions: Sequence[Attribution], statistic: Callable[..., float], seed: int, n_resamples: int | None = None) -> np.ndarray:
    """`statistic(*mean_scores)` on the full pool (entry 0) and on `n_resamples` (default: the
    budget's bootstrap draws) bootstrap resamples of the examples, the same rows for every
    attribution (they must share one pool), drawn as mechtests.stats.bootstrap draws them
    (`resample_indices`); mechtests.stats.interval and profile_bands read the draws.

    For statistics that are not means of per-example values (a circuit's top-K, a Gini
    coefficient), the scores are averaged over each resample and the statistic recomputed.
    """
    check_same_shape(attributions)
    sizes = {a.per_example.shape[0] for a in attributions}
    if len(sizes) != 1:
        raise MechtestsError(f"attributions measured on different numbers of examples {sorted(sizes)}", "use study.common_pool for every model")
    n = sizes.pop()
    n_resamples = run_budget.active().bootstrap_draws if n_resamples is None else n_resamples
    weights = np.ones((n_resamples + 1, n))  # row 0: the full pool
    for row, drawn in enumerate(resample_indices(n, n_resamples, seed), start=1):
        weights[row] = np.bincount(drawn, minlength=n)
    weights = torch.as_tensor(weights / n, dtype=torch.float32)  # (R + 1, n): each resample's mean as one matmul
    means = [(weights @ a.per_example.flatten(1)).view(-1, *a.per_example.shape[1:]) for a in attributions]  # (R + 1, n_up, n_down)
    return np.array([statistic(*(m[r] for m in means)) for r in progress.iterate(range(n_resamples + 1), RESAMPLES)])


def check_same_shape(attributions: Sequence[Attribution]) -> None:
    """Pair statistics compare graphs edge by edge: models of other shapes (a 2-layer MDM against
    a 4-layer ARM) are a MechtestsError naming each model's size, not an index out of range."""
    shapes = [(a.graph.n_layers, a.graph.n_heads) for a in attributions]
    if len(set(shapes)) > 1:
        sizes = " vs ".join(f"{layers} layers x {heads} heads" for layers, heads in shapes)
        raise MechtestsError(f"attributions of models of different shapes: {sizes}",
                             "pair an MDM with the ARM it was post-trained from (the same layers and heads)")


def edge_jaccard(graph: Graph, k: int) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """statistic(scores_a, scores_b): Jaccard of the two top-K edge sets."""
    top = lambda s: set(top_edge_indices(s, graph, k).tolist())  # noqa: E731
    return lambda a, b: jaccard(top(a), top(b))


def component_gini(graph: Graph) -> Callable[[torch.Tensor], float]:
    """statistic(scores): Gini coefficient of |attribution| over heads and MLPs."""
    return lambda scores: gini(component_attribution(scores, graph).flatten())


def early_shares(attr: Attribution, early: float = EARLY) -> np.ndarray:
    """(N,) each example's share of |attribution| in the early layers."""
    return depth_per_example(attr, early)[0]


def circuit_early_share(scores: torch.Tensor, graph: Graph, k: int, early: float = EARLY) -> float:
    """Early-layer share of the attribution on the top-K circuit's edges."""
    keep = torch.zeros(scores.numel(), dtype=torch.bool)
    keep[top_edge_indices(scores, graph, k)] = True
    return depth_profile(scores * keep.view_as(scores), graph, early=early).early_share


def node_site(name: str) -> Site:
    """A graph node's component: 'a2.h1' -> head (2, 1), 'm3' -> mlp_out 3."""
    if name.startswith("a") and ".h" in name:
        layer, head = name[1:].split(".h")
        return Site("head", int(layer), int(head))
    if name.startswith("m"):
        return Site("mlp_out", int(name[1:]))
    raise MechtestsError(f"graph node {name!r} is not a head or an MLP", "pass a name like 'a2.h1' or 'm3'")


def top_components(scores: torch.Tensor, graph: Graph, n: int, layers: Sequence[int] | None = None) -> list[Site]:
    """The `n` heads/MLPs with the most |attribution| (in- and out-edges), optionally within `layers`."""
    comp = component_attribution(scores, graph)  # (L, H + 1), last column the MLP
    allowed = range(graph.n_layers) if layers is None else layers
    ranked = sorted(((float(comp[l, c]), l, c) for l in allowed for c in range(graph.n_heads + 1)), reverse=True)
    return [Site("mlp_out", l) if c == graph.n_heads else Site("head", l, c) for _, l, c in ranked[:n]]


def ablation(
    subject: "Subject", task: str, examples: Sequence[Example], targets: Sequence[Site], method: str = "mean",
    n_controls: int | None = None, band: tuple[int, int] | None = None, seed: int = 0,
    controls: Sequence[str] = ("random", "same_depth"),
) -> AblationComparison | AblationRounds:
    """mechtests.measure.ablations.targeted_ablation, cached like the attributions (keyed by the
    targets and every parameter, the control families, precision target and cap included);
    `n_controls` (the first batch of control draws) defaults to the budget's control draws.
    With sequential decisions on, the same ablation measured in rounds instead
    (mechtests.measure.ablation_rounds): each comparison (`share_lost`, `against`) measures as
    many examples and control draws as its verdict needs, each stretch of them cached."""
    n_controls = run_budget.active().control_draws if n_controls is None else n_controls
    max_controls = run_budget.active().control_cap
    if sequential.active():
        def keep(stretch: dict[str, Any], compute: Callable[[], torch.Tensor]) -> torch.Tensor:
            key = cache.cache_key(subject, task, examples, "ablation-stretch", {"method": method, "seed": seed, **stretch})
            return cache.cached(key, lambda: {"effects": compute()}, meta={"task": task, "method": "ablation-stretch", "model": subject.path,
                                                                          "examples": f"{stretch['start']}-{stretch['stop']}"})["effects"]

        return ablation_rounds(subject, examples, targets, method=method, n_controls=n_controls, band=band, seed=seed,
                               max_controls=max_controls, controls=controls, keep=keep)

    params = {"targets": [str(t) for t in targets], "method": method, "n_controls": n_controls, "band": band, "seed": seed,
              "controls": CONTROL_DRAW, "families": list(controls), "precision": CONTROL_PRECISION, "max_controls": max_controls}
    key = cache.cache_key(subject, task, examples, "targeted-ablation", params)

    def compute() -> dict[str, torch.Tensor]:
        progress.step(f"ablation {task} ({subject.kind})")
        result = targeted_ablation(subject, examples, targets, method=method, n_controls=n_controls, band=band, seed=seed,
                                   max_controls=max_controls, controls=controls)
        drawn = {name: getattr(result, name) for name in CONTROL_FAMILIES if getattr(result, name) is not None}
        return {"target": result.target, **drawn}

    stored = cache.cached(key, compute, meta={"task": task, "method": "targeted-ablation", **params, "model": subject.path})
    return AblationComparison(stored["target"], *(stored.get(name) for name in CONTROL_FAMILIES), seed)
