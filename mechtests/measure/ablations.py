"""Targeted ablation: ablate named components together, against equal-size control sets of
other components (random, same depth, a band of layers), drawn until their mean effect is known.

How many control sets an ablation draws: a fixed count left the controls' mean noisy enough to
flip a "twice as causal as random" verdict between evaluation seeds (issue #12), so controls are
drawn in batches of `n_controls` until the 95% interval of their mean effect (normal
approximation over draws) has a half-width of at most CONTROL_PRECISION of that mean, for every
control family, or until the run budget's control_cap draws. A family whose mean effect is near
zero cannot reach a relative target; it stops at the cap, and `AblationComparison.precision`
says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from mechtests.errors import MechtestsError
from mechtests.measure.interventions import ablation_values, as_pair, run_with
from mechtests.models.components import Site
from mechtests.queries import answer_logits, metric
from mechtests.run import budget as run_budget
from mechtests.run import progress
from mechtests.stats import Estimate, bootstrap, bootstrap_with_controls, draws_halfwidth, ratio_of_means

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example, Posed

CONTROL_PRECISION = 0.10  # the relative 95% half-width a control family's mean effect is drawn down to
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
        return control_precision(getattr(self, family))

    def share_lost(self, family: str, clean: torch.Tensor, seed: int, name: str = "") -> Estimate:
        """The share of the clean metric (per example) that ablating the targets (family "target")
        or a control family removes (`share_lost`), over the whole pool."""
        return share_lost(getattr(self, family), clean, seed=seed, name=name)

    def against(self, family: str, statistic: Callable[[np.ndarray, np.ndarray], float], seed: int, name: str = "") -> Estimate:
        """statistic(target effect, the family's mean effect) over the whole pool, its interval
        resampling the examples and the control draws together (e.g. paired_difference)."""
        return bootstrap_with_controls(self.target, controls=getattr(self, family), statistic=statistic, seed=seed, name=name)

    def effect(self, family: str) -> torch.Tensor:
        """(B,): the targets' effect per example (family "target"), or the family's mean over its draws."""
        return self.target if family == "target" else getattr(self, family).mean(0)


def control_precision(effects: torch.Tensor) -> dict[str, float]:
    """(n_draws, B) control effects: the draws, and their mean's relative 95% half-width."""
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


def check_ablation(targets: Sequence[Site], n_controls: int, max_controls: int, precision: float, controls: Sequence[str],
                   band: tuple[int, int] | None) -> tuple[str, ...]:
    """The control families an ablation draws, its arguments checked (a MechtestsError naming the fix)."""
    if not targets:
        raise MechtestsError("targeted_ablation got no target components", "pass e.g. [Site('head', 0, 1)]")
    if any(t.name not in ("head", "mlp_out") for t in targets):
        raise MechtestsError("targeted_ablation ablates heads and MLPs", "pass Site('head', l, h) or Site('mlp_out', l)")
    families = tuple(dict.fromkeys([*controls, *(["band"] if band is not None else [])]))
    if not families or set(families) - set(CONTROL_FAMILIES) or ("band" in families and band is None):
        raise MechtestsError(f"unknown or unusable control families {list(controls)} (band={band})",
                             f"name some of {CONTROL_FAMILIES[:2]}; 'band' needs band=(first, last)")
    if n_controls < 2 or max_controls < n_controls or not precision > 0:
        raise MechtestsError(f"control draws need 2 <= n_controls <= max_controls and precision > 0, got {n_controls}, "
                             f"{max_controls}, {precision}", "pass e.g. n_controls=10, max_controls=100, precision=0.1")
    return families


def share_lost(effects: torch.Tensor, clean: torch.Tensor, seed: int, name: str = "") -> Estimate:
    """The share of the clean metric an ablation removes, mean(effect) / mean(clean), with its
    interval: over the examples for the targets' effects (B,), over the examples and the control
    draws resampled together for a control family's (n_draws, B)."""
    if effects.ndim == 1:
        return bootstrap(effects, clean, statistic=ratio_of_means, seed=seed, name=name)
    return bootstrap_with_controls(clean, controls=effects, statistic=_share_of_clean, seed=seed, name=name)


def _share_of_clean(clean: np.ndarray, effect: np.ndarray) -> float:
    return ratio_of_means(effect, clean)


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
    max_controls = run_budget.active().control_cap if max_controls is None else max_controls
    families = check_ablation(targets, n_controls, max_controls, precision, controls, band)
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
            if len(effects[name]) < n_controls or control_precision(torch.stack(effects[name]))["relative_halfwidth"] > precision:
                effects[name] += [effect(s) for s in progress.iterate(sets[name][len(effects[name]):], f"{name} component sets")]
        if all(control_precision(torch.stack(effects[name]))["relative_halfwidth"] <= precision for name in families):
            break
    stacked = {name: torch.stack(rows) for name, rows in effects.items()}
    return AblationComparison(effect(list(targets)), *(stacked.get(name) for name in CONTROL_FAMILIES), seed)


__all__ = ["AblationComparison", "CONTROL_DRAW", "CONTROL_FAMILIES", "CONTROL_PRECISION", "check_ablation", "control_precision",
           "control_sets", "share_lost", "targeted_ablation"]
