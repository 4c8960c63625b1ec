"""A targeted ablation measured in rounds: the examples (and the control draws) a verdict needs,
not the whole pool, when sequential decisions are on (mechtests.stats.sequential).

`AblationRounds` measures the same quantities as mechtests.measure.ablations.targeted_ablation,
on the first n examples of the pool as a comparison asks for them: each component set's effect
on an example is measured once and kept, so a later look only measures the new examples (and
any new control draws). At every look the control draws follow targeted_ablation's rule on that
look's examples (batches of `n_controls` until the family's mean is known to `precision`, at
most `max_controls`), using the first of the seeded, prefix-stable control sets, so the look at
the whole pool measures what targeted_ablation measures. A mean ablation replaces a component
by its mean over the whole pool at every look (as targeted_ablation does), so an example's
effect does not depend on the look it was measured at; those means are taken in one pass over
the pool for every component the targets and the capped control sets may ablate.

Each measured stretch (some component sets on examples start..stop-1) goes through `keep`, which
mechtests.study.ablation points at the measurement cache: the looks of a run are the same on a
rerun, so a warm rerun reads every stretch instead of measuring it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch

from mechtests.errors import MechtestsError
from mechtests.measure.ablations import CONTROL_PRECISION, check_ablation, control_precision, control_sets, share_lost
from mechtests.measure.interventions import ablation_values, as_pair, cache, run_with
from mechtests.models.components import Site
from mechtests.queries import answer_logits, metric
from mechtests.run import batching
from mechtests.run import budget as run_budget
from mechtests.run import progress
from mechtests.stats import Estimate, bootstrap_with_controls
from mechtests.stats.sequential import grown

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example

TARGET = "target"
Keep = Callable[[dict[str, Any], Callable[[], torch.Tensor]], torch.Tensor]  # (stretch, compute) -> effects


def measured_now(stretch: dict[str, Any], compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The `keep` that keeps nothing: every stretch is measured."""
    return compute()


class AblationRounds:
    """The ablation of `targets` against control sets of `families`, measured on demand."""

    def __init__(self, subject: "Subject", examples: "Sequence[Example]", targets: Sequence[Site], method: str,
                 n_controls: int, band: tuple[int, int] | None, seed: int, precision: float, max_controls: int,
                 families: Sequence[str], keep: Keep = measured_now) -> None:
        self.subject, self.targets, self.method, self.seed, self.keep = subject, list(targets), method, seed, keep
        self.n_controls, self.precision_target, self.max_controls = n_controls, precision, max_controls
        self.families = tuple(families)
        self.clean, _ = as_pair(subject, examples)  # the whole pool, padded as targeted_ablation pads it
        self.pool = len(examples)
        self.sets = control_sets(subject, targets, max_controls, seed, band)  # the first k are those of k draws
        self.values: dict[Site, torch.Tensor] = {}
        self.m_clean = torch.empty(0)
        self.effects: dict[str, torch.Tensor] = {}  # family -> (sets measured, examples measured); target: (1, m)

    # --- what a look measures ---------------------------------------------------------------
    def target(self, n: int) -> torch.Tensor:
        """The targets' effect (n,) on the first n examples."""
        if TARGET not in self.effects:
            self.effects[TARGET] = self._measure([self.targets], 0, n)
        self._extend_examples(TARGET, [self.targets], n)
        return self.effects[TARGET][0, :n]

    def controls(self, family: str, n: int) -> torch.Tensor:
        """(draws, n): the family's control sets on the first n examples, as many as targeted_ablation's
        rule draws on those examples."""
        drawn = 0
        while True:
            drawn = min(drawn + self.n_controls, self.max_controls)
            effects = self._family(family, drawn, n)
            if drawn >= self.max_controls or control_precision(effects)["relative_halfwidth"] <= self.precision_target:
                return effects

    def precision(self, family: str) -> dict[str, float]:
        """The family's draws and relative half-width at the largest look measured so far (the
        whole pool when none is)."""
        measured = self.effects[family].shape[1] if family in self.effects else self.pool
        return control_precision(self.controls(family, measured))

    def share_lost(self, family: str, clean: torch.Tensor, seed: int, name: str = "") -> Estimate:
        """The share of the clean metric (`clean`, per example of the pool) that ablating the targets
        (family "target") or a control family removes, measured in rounds (`grown`): its evidence
        names the examples and, for a control family, the draws the deciding look used."""
        if family not in (TARGET, *self.families):
            raise MechtestsError(f"this ablation has no {family!r} to measure", f"ask for one of {[TARGET, *self.families]}")
        if len(clean) != self.pool:
            raise MechtestsError(f"clean metric has {len(clean)} values for a pool of {self.pool}", "pass one per example of the pool")

        def measure(n: int) -> Estimate:
            effects = self.target(n) if family == TARGET else self.controls(family, n)
            return share_lost(effects, clean[:n], seed=seed, name=name)

        return grown(measure, self.pool, describe=lambda n: {} if family == TARGET else self._drawn(family, n))

    def against(self, family: str, statistic: Callable[[np.ndarray, np.ndarray], float], seed: int, name: str = "") -> Estimate:
        """statistic(target effect, the family's mean effect), its interval resampling the examples
        and the control draws together, measured in rounds (`grown`) like `share_lost`."""
        if family not in self.families:
            raise MechtestsError(f"this ablation has no {family!r} controls", f"ask for one of {list(self.families)}")

        def measure(n: int) -> Estimate:
            return bootstrap_with_controls(self.target(n), controls=self.controls(family, n), statistic=statistic, seed=seed, name=name)

        return grown(measure, self.pool, describe=lambda n: self._drawn(family, n))

    def _drawn(self, family: str, n: int) -> dict[str, Any]:
        """A look's evidence for a control family: its draws, their precision and the cap."""
        return {**control_precision(self.controls(family, n)), "draws_cap": self.max_controls}

    def effect(self, family: str) -> torch.Tensor:
        """(n,): the targets' effect per example (family "target"), or the family's mean over its
        draws, on the most examples measured so far for it (the whole pool when none were)."""
        measured = self.effects[family].shape[1] if family in self.effects else self.pool
        return self.target(measured) if family == TARGET else self.controls(family, measured).mean(0)

    # --- measuring and keeping effects --------------------------------------------------------
    def _family(self, family: str, drawn: int, n: int) -> torch.Tensor:
        sets = self.sets[family]
        if family not in self.effects:
            self.effects[family] = self._measure(sets[:drawn], 0, n)
        self._extend_examples(family, sets, n)
        have = self.effects[family]
        if have.shape[0] < drawn:
            more = self._measure(sets[have.shape[0]:drawn], 0, have.shape[1])
            self.effects[family] = have = torch.cat([have, more])
        return have[:drawn, :n]

    def _extend_examples(self, family: str, sets: Sequence[Sequence[Site]], n: int) -> None:
        have = self.effects[family]
        if have.shape[1] < n:
            more = self._measure(sets[: have.shape[0]], have.shape[1], n)
            self.effects[family] = torch.cat([have, more], dim=1)

    def _measure(self, sets: Sequence[Sequence[Site]], start: int, stop: int) -> torch.Tensor:
        """(len(sets), stop - start): each set's effect, m(clean) - m(ablated), on examples
        start..stop-1, through `keep`."""
        def compute() -> torch.Tensor:
            missing = sorted({s for sites in sets for s in sites if s not in self.values}, key=lambda s: s.order)
            if missing:
                self.values.update(self._ablated_values(missing))
            rows = self.clean.rows(start, stop)
            m_clean = self._clean_metric(stop)[start:stop]
            out = []
            for sites in progress.iterate(sets, f"component sets on examples {start}-{stop}"):
                ablated = {s: self._rows_of(self.values[s], start, stop) for s in sites}
                out.append(m_clean - metric(run_with(self.subject, rows, ablated), rows))
            return torch.stack(out)

        return self.keep({"sets": [[str(s) for s in sites] for sites in sets], "start": start, "stop": stop}, compute)

    def _ablated_values(self, missing: list[Site]) -> dict[Site, torch.Tensor]:
        """The replacement values of `missing` components. A mean ablation takes every component
        any control set of the cap or the targets ablates at once: one pass over the pool, its
        sums kept per batch of rows, instead of a pass per set with new components (the pool's
        pass costs as much as a whole look at a few examples)."""
        if self.method != "mean":
            return ablation_values(self.subject, self.clean, missing, self.method, self.seed)
        every = {s for family in self.families for sites in self.sets[family] for s in sites} | set(self.targets) | set(missing)
        sites = sorted(every - set(self.values), key=lambda s: s.order)
        rows = batching.rows_for(self.subject, self.clean.input_ids.shape[1])
        sums: dict[Site, torch.Tensor] = {}
        dtypes: dict[Site, torch.dtype] = {}
        for start in progress.iterate(range(0, self.pool, rows), "mean activations over the pool"):
            for site, acts in cache(self.subject, self.clean.rows(start, min(start + rows, self.pool)), sites, rows).items():
                total = acts.sum(0, keepdim=True, dtype=torch.float64)
                sums[site], dtypes[site] = (total if site not in sums else sums[site] + total), acts.dtype
        return {site: (total / self.pool).to(dtypes[site]) for site, total in sums.items()}

    def _rows_of(self, value: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """An ablated value for examples start..stop-1: one for every row, or per row of the pool."""
        return value[start:stop] if value.shape[0] == self.pool and self.pool > 1 else value

    def _clean_metric(self, n: int) -> torch.Tensor:
        have = len(self.m_clean)
        if have < n:
            rows = self.clean.rows(have, n)
            self.m_clean = torch.cat([self.m_clean, metric(answer_logits(self.subject, rows), rows)])
        return self.m_clean


def ablation_rounds(subject: "Subject", examples: "Sequence[Example]", targets: Sequence[Site], method: str = "mean",
                    n_controls: int | None = None, band: tuple[int, int] | None = None, seed: int = 0,
                    precision: float = CONTROL_PRECISION, max_controls: int | None = None,
                    controls: Sequence[str] = ("random", "same_depth"), keep: Keep = measured_now) -> AblationRounds:
    """An AblationRounds, its arguments checked as targeted_ablation checks them; the control
    draws' first batch and cap default to the run budget's (as mechtests.study.ablation's)."""
    n_controls = run_budget.active().control_draws if n_controls is None else n_controls
    max_controls = run_budget.active().control_cap if max_controls is None else max_controls
    families = check_ablation(targets, n_controls, max_controls, precision, controls, band)
    return AblationRounds(subject, examples, targets, method, n_controls, band, seed, precision, max_controls, families, keep)


__all__ = ["AblationRounds", "Keep", "TARGET", "ablation_rounds", "measured_now"]
