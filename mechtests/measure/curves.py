"""Faithfulness curves: a circuit's normalised faithfulness over a grid of sizes, MIB's two areas,
and the circuit size that the curve picks.

Definitions, as MIB's circuit localization track gives them (Mueller et al. 2025, "MIB: A
Mechanistic Interpretability Benchmark", its `evaluate_area_under_curve`):
- f(C) = (m(C) - m(empty)) / (m(M) - m(empty)): m the task metric (mechtests.queries.answer_metric,
  mean over examples), C the circuit's edges clean and every other edge reading the corrupted
  input's activation of its upstream node, M every edge clean (the model), empty none.
- The circuit at p % of the edges is the top n = max(1, floor(p / 100 * n_edges)) edges (MIB
  truncates the same way; at least one edge here, so a small graph's smallest point is a circuit).
- CPR: the area under f with edges ranked by signed score (higher is better; above 1 when
  circuits beat the model, as EAP-IG-inputs' 1.85 on GPT-2 IOI). The sign is taken toward the
  model's metric: MIB's metrics are higher on the clean input than on the corrupted one, and
  where a task's are not, mechtests.study flips the scores so that a positive one still helps.
- CMD: the area between f and 1, the area under |1 - f|, with edges ranked by |score| (0 is best).
- Area: the trapezoid rule over the grid's fractions of edges, x = p / 100 from the grid's first
  point to its last, not rescaled and with no point added at 0 (MIB's `area_under` and
  `area_from_1`; its ten points span 0.001..1, the default grid's eight 0.005..1).
MIB prunes each top-n circuit to the edges on a path from the input to the logits: with
corrupted-activation patching a dangling edge carries its corrupted value either way, so pruning
changes the edge count MIB reports, not f, and is not done here.

MIB and the libraries report these as point estimates. Here f at each size, CPR and CMD carry a
bootstrap interval over examples: each resample recomputes f at every size from the per-example
metric values (the same rows at every size, the same seed the same draws), then the areas.

With sequential decisions (mechtests.stats.sequential) a curve is measured in rounds
(`CurveRounds`): f at a size compared with a bar is grown to the look that decides it, and the
circuit size K is the smallest grid size whose f is decided to clear the target, so a curve far
from its bar patches only the first round of examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from mechtests.claims.outcomes import HOLDS
from mechtests.errors import MechtestsError
from mechtests.measure.attribution.graph import Graph
from mechtests.measure.circuits import stacked_metrics, top_edge_indices
from mechtests.stats import Estimate, bootstrap, decide, mean_of_defined, normalised
from mechtests.stats.sequential import grown

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example, StepPairs


def grid_sizes(n_edges: int, percents: Sequence[float]) -> tuple[int, ...]:
    """Edges at each grid point: max(1, floor(p / 100 * n_edges)); the grid must rise within (0, 100]."""
    if not percents or any(not 0 < p <= 100 for p in percents) or list(percents) != sorted(set(percents)):
        raise MechtestsError(f"faithfulness grid {tuple(percents)} is not a rising list of percentages in (0, 100]",
                             "set the budget's faithfulness_grid to e.g. (0.5, 1, 2, 5, 10, 20, 50, 100)")
    return tuple(max(1, math.floor(p / 100 * n_edges + 1e-9)) for p in percents)


def top_masks(scores: torch.Tensor, graph: Graph, sizes: Sequence[int], absolute: bool) -> torch.Tensor:
    """(S, n_up, n_down) bool: the top `sizes[s]` edges by |score| (or by signed score)."""
    masks = torch.zeros(len(sizes), graph.edge_mask.numel(), dtype=torch.bool)
    for row, k in enumerate(sizes):
        masks[row, top_edge_indices(scores, graph, k, absolute=absolute)] = True
    return masks.view(len(sizes), *graph.edge_mask.shape)


def area(f: np.ndarray, fractions: np.ndarray) -> float:
    """Trapezoid rule over the fractions of edges (MIB's area, see the module docstring)."""
    return float(np.sum(np.diff(fractions) * (f[1:] + f[:-1]) / 2))


def normalised_curve(m: np.ndarray, empty: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """f at every size: (mean m[:, s] - mean empty) / (mean clean - mean empty), m (N, S)."""
    low = mean_of_defined(empty)
    return (mean_of_defined(m, axis=0) - low) / (mean_of_defined(clean) - low)


@dataclass(frozen=True)
class Curve:
    """Per-example metrics of one model on one task's examples at every grid size.

    signed, absolute: (N, S) the metric with the top edges by signed score / by |score| clean;
    clean: (N,) every edge clean (the model); empty: (N,) no edge clean (the corrupted input).
    """

    percents: tuple[float, ...]
    sizes: tuple[int, ...]
    signed: torch.Tensor
    absolute: torch.Tensor
    clean: torch.Tensor
    empty: torch.Tensor

    @property
    def fractions(self) -> np.ndarray:
        return np.asarray(self.percents, dtype=np.float64) / 100

    def _series(self) -> tuple[np.ndarray, ...]:
        return tuple(t.double().numpy() for t in (self.signed, self.absolute, self.empty, self.clean))

    def faithfulness(self, seed: int, ranking: str = "absolute") -> list[Estimate]:
        """f at each grid size with its interval, edges ranked by |score| ('absolute': the circuits
        the hypotheses use) or by signed score ('signed'); every size resamples the same rows."""
        if ranking not in ("absolute", "signed"):
            raise MechtestsError(f"unknown ranking {ranking!r}", "use 'absolute' (by |score|) or 'signed'")
        signed, absolute, empty, clean = self._series()
        m = absolute if ranking == "absolute" else signed
        return [bootstrap(m[:, s], empty, clean, statistic=normalised, seed=seed, name=f"f at {p:g}% ({k} edges)")
                for s, (p, k) in enumerate(zip(self.percents, self.sizes))]

    def cpr(self, seed: int) -> Estimate:
        """CPR: the area under f, edges ranked by signed score, with its interval."""
        x = self.fractions
        signed, _, empty, clean = self._series()
        return bootstrap(signed, empty, clean, statistic=lambda m, e, c: area(normalised_curve(m, e, c), x), seed=seed, name="CPR")

    def cmd(self, seed: int) -> Estimate:
        """CMD: the area between f and 1, edges ranked by |score|, with its interval."""
        x = self.fractions
        _, absolute, empty, clean = self._series()
        return bootstrap(absolute, empty, clean, statistic=lambda m, e, c: area(np.abs(1 - normalised_curve(m, e, c)), x), seed=seed,
                         name="CMD")


def measure_curve(
    subject: "Subject", data: "Sequence[Example] | StepPairs", scores: torch.Tensor, graph: Graph, percents: Sequence[float],
    rows_per_pass: int | None = None,
) -> Curve:
    """The curve of the circuits that `scores` rank (signed: positive toward the model's metric),
    at every grid size, both rankings: every
    distinct circuit (the model and the empty circuit included) side by side in each pass
    (mechtests.measure.circuits.stacked_metrics), so a batch of examples costs one pass."""
    sizes = grid_sizes(graph.n_edges, percents)
    everything = graph.edge_mask
    masks = torch.cat([top_masks(scores, graph, sizes, absolute=False), top_masks(scores, graph, sizes, absolute=True),
                       everything[None], torch.zeros_like(everything)[None]])
    distinct, which = torch.unique(masks.flatten(1), dim=0, return_inverse=True)  # signed and |score| tops often agree
    m = stacked_metrics(subject, data, distinct.view(-1, *everything.shape), rows_per_pass=rows_per_pass)[:, which]  # (N, 2S + 2)
    n = len(sizes)
    return Curve(tuple(percents), sizes, m[:, :n], m[:, n:2 * n], m[:, 2 * n], m[:, 2 * n + 1])


class CurveRounds:
    """A faithfulness curve over a pool, measured on its first n examples as comparisons ask for
    them: `measure(n)` gives the Curve of the first n (a look's size; memoised here).

    faithfulness(seed): f at each grid size, each an estimate grown look by look when compared
    with a bar (mechtests.stats.sequential.grown); with sequential decisions off, the whole pool."""

    def __init__(self, measure: Callable[[int], Curve], pool: int, percents: Sequence[float], sizes: Sequence[int]) -> None:
        self.percents, self.sizes, self.pool = tuple(percents), tuple(sizes), pool
        self._measure = measure
        self._curves: dict[int, Curve] = {}
        self._estimates: dict[tuple[int, int, str], list[Estimate]] = {}

    def at(self, n: int) -> Curve:
        """The curve of the first n examples."""
        if n not in self._curves:
            self._curves[n] = self._measure(n)
        return self._curves[n]

    def widest(self) -> Curve:
        """The curve on the most examples measured so far (what the decisions made used at most)."""
        return self.at(max(self._curves, default=self.pool))

    def faithfulness(self, seed: int, ranking: str = "absolute") -> list[Estimate]:
        return [grown(lambda n, s=s: self._faithfulness(n, seed, ranking)[s], self.pool) for s in range(len(self.sizes))]

    def _faithfulness(self, n: int, seed: int, ranking: str) -> list[Estimate]:
        """Every size's f on the first n, bootstrapped once per look (each size's estimate reads its own)."""
        if (n, seed, ranking) not in self._estimates:
            self._estimates[n, seed, ranking] = self.at(n).faithfulness(seed, ranking)
        return self._estimates[n, seed, ranking]


@dataclass(frozen=True)
class CircuitSize:
    """The K a comparison uses, and why (a line for the report)."""

    k: int
    why: str


def smallest_faithful(curve: "Curve | CurveRounds", target: float, seed: int) -> CircuitSize:
    """The smallest grid size below 100 % whose f (edges by |score|) is decided at or above
    `target` on its interval (a curve in rounds: at the look that decides it). Every edge always
    recovers f = 1, so 100 % is no circuit and is not a candidate; when no smaller size clears
    the target, K is the largest grid size below 100 %, said so."""
    below = [(p, k, f) for p, k, f in zip(curve.percents, curve.sizes, curve.faithfulness(seed)) if p < 100]
    if not below:
        raise MechtestsError(f"the faithfulness grid {curve.percents} has no size below 100%", "add smaller sizes to the budget's faithfulness_grid")
    for p, k, f in below:
        decision = decide(f, ">=", target)
        if decision.verdict == HOLDS:
            return CircuitSize(k, f"K={k}: smallest grid size with f >= {target:g} ({p:g}% of edges, f = {_interval(decision.estimate)})")
    p, k, f = below[-1]
    last = decide(f, ">=", target).estimate
    return CircuitSize(k, f"K={k}: no grid size below 100% reaches f >= {target:g}; the largest, {p:g}% of edges (f = {_interval(last)})")


def _interval(est: Estimate) -> str:
    return f"{est.value:.3g} [{est.lo:.3g}, {est.hi:.3g}]" + (f", n={est.n}" if est.n else "")


__all__ = ["CircuitSize", "Curve", "CurveRounds", "area", "grid_sizes", "measure_curve", "normalised_curve", "smallest_faithful", "top_masks"]
