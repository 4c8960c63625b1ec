"""Per-model measurements over a grid of mask ratios of the context: profiles with intervals.

Each measurement is taken on the same examples at every ratio of the grid, with the seeded,
nested masks of mechtests.queries.mask_ratio, so a profile's points are paired: one row per
example, one column per ratio. A point's interval is the bootstrap over the examples at that
ratio; the slope (how the measurement moves with the ratio) is each example's least-squares
slope over the grid, averaged and bootstrapped over the examples, so its interval carries the
examples' variation and nothing else. An example whose value is undefined at some ratio (an
attribution with no signal left once the corruption is masked away) has no slope and is left out.

- correctness: does the MDM still answer every answer slot right with `ratio` of its context masked;
- early share: the share of |EAP-IG attribution| (heads and MLPs) in the first half of the layers,
  clean and corrupted inputs masked alike (mechtests.measure.contrasts.depth_per_example);
- head score: one head's score under a head detector (mechtests.measure.detect, .backward), whose
  rules leave masked positions out as queries and as targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from mechtests.claims.evidence import current_seed
from mechtests.errors import MechtestsError
from mechtests.measure.attribution import attribute
from mechtests.measure.contrasts import depth_per_example
from mechtests.measure.detect import HeadScores
from mechtests.queries import answer_logits, correct
from mechtests.queries.mask_ratio import masked_pairs
from mechtests.queries.pose import Posed
from mechtests.run import progress
from mechtests.stats import Estimate, bootstrap, mean_of_defined, sample_key

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries.example import Example

GRID = (0.0, 0.25, 0.5, 0.75)  # shares of the context masked; 1.0 leaves no context to read


@dataclass
class RatioProfile:
    """values: (N, R) one row per example, one column per ratio of `ratios`; NaN where undefined."""

    ratios: tuple[float, ...]
    values: np.ndarray
    name: str
    sample: str

    def at(self, ratio: float) -> Estimate:
        """The mean over the examples at one ratio of the grid, with its bootstrap interval."""
        if ratio not in self.ratios:
            raise MechtestsError(f"{ratio} is not among the grid's ratios {self.ratios}", "pass one of the profile's ratios")
        column = self.values[:, self.ratios.index(ratio)]
        return bootstrap(column, seed=current_seed(), name=f"{self.name} at mask ratio {ratio:g}", sample=self.sample)

    def points(self) -> list[Estimate]:
        return [self.at(r) for r in self.ratios]

    def slopes(self) -> np.ndarray:
        """(N,) each example's least-squares slope over the grid (change per unit of mask ratio); NaN rows stay NaN."""
        x = np.asarray(self.ratios, dtype=np.float64)
        centred = x - x.mean()
        return (self.values - self.values.mean(1, keepdims=True)) @ centred / (centred @ centred)

    def slope(self) -> Estimate:
        """The mean per-example slope, with its bootstrap interval over the examples."""
        return bootstrap(self.slopes(), seed=current_seed(), name=f"{self.name}: slope over the mask ratio", sample=self.sample)

    def slope_size(self) -> Estimate:
        """|mean per-example slope| with its bootstrap interval: how far the profile moves, either way."""
        return bootstrap(self.slopes(), statistic=lambda s: abs(float(mean_of_defined(s))), seed=current_seed(),
                         name=f"{self.name}: size of the slope over the mask ratio", sample=self.sample)


def sweep(subject: "Subject", examples: "Sequence[Example]", measure: Callable[[Posed, Posed], np.ndarray], name: str,
          ratios: Sequence[float] = GRID, seed: int = 0) -> RatioProfile:
    """`measure(clean, corrupted)` -> (N,) values at every ratio, on the same examples and seeded masks."""
    if len(ratios) < 2 or list(ratios) != sorted(set(ratios)):
        raise MechtestsError(f"a mask-ratio grid needs two or more increasing ratios, got {tuple(ratios)}", "pass e.g. (0.0, 0.25, 0.5, 0.75)")
    columns = [measure(*masked_pairs(subject, examples, r, seed)) for r in progress.iterate(list(ratios), f"mask ratios ({subject.kind})")]
    return RatioProfile(tuple(float(r) for r in ratios), np.stack(columns, axis=1), name, sample_key(examples))


def correctness(subject: "Subject", examples: "Sequence[Example]", ratios: Sequence[float] = GRID, seed: int = 0) -> RatioProfile:
    """Share of examples answered right at each mask ratio of the context."""
    def measure(clean: Posed, _corrupted: Posed) -> np.ndarray:
        return correct(answer_logits(subject, clean), clean).float().cpu().numpy()

    return sweep(subject, examples, measure, "correct", ratios, seed)


def early_share(subject: "Subject", examples: "Sequence[Example]", ratios: Sequence[float] = GRID, seed: int = 0,
                steps: int = 8, early: float = 0.5) -> RatioProfile:
    """Each example's early-layer share of |EAP-IG attribution| at each mask ratio of the context."""
    def measure(clean: Posed, corrupted: Posed) -> np.ndarray:
        return depth_per_example(attribute(subject, [(clean, corrupted)], steps=steps, method="eap-ig"), early)[0]

    return sweep(subject, examples, measure, "early-layer share", ratios, seed)


def head_score(subject: "Subject", examples: "Sequence[Example]", detector: Callable[..., HeadScores], layer: int, head: int,
               ratios: Sequence[float] = GRID, seed: int = 0) -> RatioProfile:
    """Head `layer.head`'s per-example score under `detector` (e.g. detect.induction) at each mask ratio.
    The detector reads the masked batch as a token tensor, so the examples must share one input length."""
    def measure(clean: Posed, _corrupted: Posed) -> np.ndarray:
        if not bool(clean.attention_mask.all()):
            raise MechtestsError("a head score over mask ratios got examples of different input lengths",
                                 "pass examples of one length (one task of the bundled vocabulary, or group them by length)")
        return detector(subject, clean.input_ids.cpu()).per_example[:, layer, head].numpy()

    return sweep(subject, examples, measure, f"{getattr(detector, '__name__', 'head')} score of head {layer}.{head}", ratios, seed)


__all__ = ["GRID", "RatioProfile", "correctness", "early_share", "head_score", "sweep"]
