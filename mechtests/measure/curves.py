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
(`CurveRounds`): the whole curve on the first look's examples, and f at a size compared with a
bar grown to the look that decides it, that size alone patched on the later examples. The
circuit size K is the smallest grid size whose f is decided to clear the target, the sizes
measured one by one in rising order, so sizing patches no size above K.
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


def size_faithfulness(m: np.ndarray, empty: np.ndarray, clean: np.ndarray, seed: int, percent: float, k: int) -> Estimate:
    """f at one grid size with its bootstrap interval: m, empty, clean (N,) per example."""
    return bootstrap(m, empty, clean, statistic=normalised, seed=seed, name=f"f at {percent:g}% ({k} edges)")


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
        return [size_faithfulness(m[:, s], empty, clean, seed, p, k) for s, (p, k) in enumerate(zip(self.percents, self.sizes))]

    def faithfulness_at(self, s: int, seed: int) -> Estimate:
        """f at grid size `s`, edges by |score| (what circuit sizing reads, one size at a time)."""
        _, absolute, empty, clean = self._series()
        return size_faithfulness(absolute[:, s], empty, clean, seed, self.percents[s], self.sizes[s])

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


def measure_size(subject: "Subject", data: "Sequence[Example] | StepPairs", scores: torch.Tensor, graph: Graph, k: int) -> torch.Tensor:
    """(N,) the metric with the top `k` edges by |score| clean: one point of a curve, alone."""
    return stacked_metrics(subject, data, top_masks(scores, graph, [k], absolute=True))[:, 0]


def measure_ends(subject: "Subject", data: "Sequence[Example] | StepPairs", graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, empty), each (N,): the metric with every edge clean (the model) and with none
    (the corrupted input), patched as a curve's own ends are, to normalise points measured alone."""
    everything = graph.edge_mask
    m = stacked_metrics(subject, data, torch.stack([everything, torch.zeros_like(everything)]))
    return m[:, 0], m[:, 1]


Stretch = tuple[int, int]  # examples [start, stop) between two sequential looks


class CurveRounds:
    """A faithfulness curve over a pool, measured in stretches between sequential looks as
    comparisons ask for them.

    first(): the whole curve (every size, both rankings) on the first look's examples (with
    sequential decisions off, the whole pool), what a report draws and CPR and CMD read.
    faithfulness_at(s, seed): f at grid size s, edges by |score|, grown look by look when
    compared with a bar (mechtests.stats.sequential.grown); each later stretch patches that size
    alone, not the whole curve. whole_first=False (sizing a circuit, which reads sizes in order
    and stops at the first that clears) patches even the first stretch size by size, so the
    sizes above K and the signed ranking cost nothing.

    whole(stretch) -> Curve; size(stretch, s) -> (N,) metric at size s; ends(stretch) -> (clean,
    empty): the measurements, each cached by the caller."""

    def __init__(self, looks: Sequence[int], percents: Sequence[float], sizes: Sequence[int], whole: Callable[[Stretch], Curve],
                 size: Callable[[Stretch, int], torch.Tensor], ends: Callable[[Stretch], tuple[torch.Tensor, torch.Tensor]],
                 whole_first: bool = True) -> None:
        self.looks, self.percents, self.sizes, self.pool = tuple(looks), tuple(percents), tuple(sizes), looks[-1]
        self._whole, self._size, self._ends, self._whole_first = whole, size, ends, whole_first
        self._grown: dict[tuple[int, int], Estimate] = {}

    def first(self) -> Curve:
        """The whole curve on the first look's examples."""
        return self._whole((0, self.looks[0]))

    def faithfulness_at(self, s: int, seed: int) -> Estimate:
        if (s, seed) not in self._grown:
            self._grown[s, seed] = grown(lambda n: self._at(n, s, seed), self.pool)
        return self._grown[s, seed]

    def _at(self, n: int, s: int, seed: int) -> Estimate:
        """f at size s on the first n examples (n a look's size), from its stretches."""
        bounds = [0, *(look for look in self.looks if look <= n)]
        if bounds[-1] != n:
            raise MechtestsError(f"a faithfulness curve is measured at its looks {self.looks}, not at {n} examples", "ask for a look's size")
        parts = []
        for stretch in zip(bounds, bounds[1:]):
            if self._whole_first and stretch[0] == 0:
                curve = self._whole(stretch)
                parts.append((curve.absolute[:, s], curve.clean, curve.empty))
            else:
                parts.append((self._size(stretch, s), *self._ends(stretch)))
        m, clean, empty = (torch.cat(column).double().numpy() for column in zip(*parts))
        return size_faithfulness(m, empty, clean, seed, self.percents[s], self.sizes[s])


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
    below = [s for s, p in enumerate(curve.percents) if p < 100]
    if not below:
        raise MechtestsError(f"the faithfulness grid {curve.percents} has no size below 100%", "add smaller sizes to the budget's faithfulness_grid")
    for s in below:  # in rising order, each size measured only when the ones below it did not clear
        decision = decide(curve.faithfulness_at(s, seed), ">=", target)
        p, k = curve.percents[s], curve.sizes[s]
        if decision.verdict == HOLDS:
            return CircuitSize(k, f"K={k}: smallest grid size with f >= {target:g} ({p:g}% of edges, f = {_interval(decision.estimate)})")
    p, k = curve.percents[below[-1]], curve.sizes[below[-1]]
    return CircuitSize(k, f"K={k}: no grid size below 100% reaches f >= {target:g}; the largest, {p:g}% of edges (f = {_interval(decision.estimate)})")


def _interval(est: Estimate) -> str:
    return f"{est.value:.3g} [{est.lo:.3g}, {est.hi:.3g}]" + (f", n={est.n}" if est.n else "")


__all__ = ["CircuitSize", "Curve", "CurveRounds", "area", "grid_sizes", "measure_curve", "measure_ends", "measure_size", "normalised_curve",
           "size_faithfulness", "smallest_faithful", "top_masks"]
