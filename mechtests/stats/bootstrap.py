"""Uncertainty for every scalar a hypothesis records: seeded bootstrap intervals over examples.

Examples are the unit of resampling. Statistics of several per-example series (a ratio of two
means, a paired difference, a normalised faithfulness) resample the examples jointly, so the
pairing between series is kept. A statistic that also reads random control draws (the mean
drop of random component sets in an ablation) resamples the draws too, jointly with the
examples (`bootstrap_with_controls`): its interval then carries both sources of noise, so a
ratio against "random" is never decided on the luck of which random sets were drawn.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Callable, Sequence

import numpy as np
import torch

from mechtests.errors import MechtestsError
from mechtests.run import progress
from mechtests.stats.estimate import Estimate, new_sample, percentile_interval

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]
RESAMPLES = "bootstrap resamples"  # what progress counts while a bootstrap runs


def _as_array(values: ArrayLike, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise MechtestsError(f"bootstrap got no per-example values for {name}", "pass a 1-d series with one value per example")
    return arr


def mean_of_defined(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """The mean of the values that are not NaN (numpy's nanmean); NaN where none is, without
    the "Mean of empty slice" warning nanmean prints for every bootstrap resample that drew
    only undefined examples (such draws are then skipped by `percentile_interval`)."""
    defined = ~np.isnan(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, values, 0.0).sum(axis=axis) / defined.sum(axis=axis)


def _mean(*xs: np.ndarray) -> float:
    return float(mean_of_defined(xs[0], axis=0).mean()) if xs[0].ndim > 1 else float(mean_of_defined(xs[0]))


def bootstrap(
    *per_example: ArrayLike,
    statistic: Callable[..., float] = _mean,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    name: str = "",
    sample: str | None = None,
) -> Estimate:
    """Percentile bootstrap CI of `statistic(*series)` resampling examples (axis 0) jointly.

    `bootstrap(values)` is the mean with its CI; `bootstrap(a, b, statistic=lambda a, b:
    a.mean() / b.mean())` is a ratio; every series must have one row per example. name: what
    the report calls it; sample: the examples' identity (`sample_key`), so that estimates of
    the same examples combine paired (`mdm - arm`); None: a sample of its own.
    """
    if not per_example:
        raise MechtestsError("bootstrap() got no series", "pass the per-example values, e.g. bootstrap(scores)")
    _check_settings(level, n_resamples)
    arrays = [_as_array(x, f"series {i}") for i, x in enumerate(per_example)]
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise MechtestsError(f"bootstrap series have different lengths {[a.shape[0] for a in arrays]}", "pass one value per example in every series")
    value = float(statistic(*arrays))
    index = resample_indices(n, n_resamples, seed)  # (R, n)
    draws = np.array([statistic(*(a[row] for a in arrays)) for row in progress.iterate(index, RESAMPLES)], dtype=np.float64)
    return _percentile(value, draws, seed, level, n, name=name, sample=sample)


def resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n): the examples each bootstrap resample draws, with replacement, from `seed`.
    The one draw of examples behind `bootstrap` and mechtests.study.resampled, so that a seed
    resamples the same examples in both."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _check_settings(level: float, n_resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise MechtestsError(f"bootstrap level must lie in (0, 1), got {level}", "pass e.g. level=0.95")
    if n_resamples < 1:
        raise MechtestsError(f"n_resamples must be positive, got {n_resamples}", "pass e.g. n_resamples=1000")


def _percentile(value: float, draws: np.ndarray, seed: int, level: float, n: int, name: str = "", sample: str | None = None) -> Estimate:
    """The Estimate whose interval is the central `level` range of the bootstrap draws (kept)."""
    lo, hi = percentile_interval(draws, level)
    return Estimate(value=value, lo=lo, hi=hi, seed=seed, level=level, n=n, n_resamples=len(draws), name=name,
                    draws=draws, sample=sample or new_sample())


def percentile_band(draws: ArrayLike, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, lo, hi) from bootstrap draws whose entry 0 is the full-sample value (as
    mechtests.study.resampled returns them): the central `level` range of the others, along axis
    0, so a draw of one value per layer gives one band per layer. Unlike `bootstrap`'s intervals
    it skips no NaN draw: a NaN makes its band NaN."""
    draws = np.asarray(draws, dtype=np.float64)
    tail = (1 - level) / 2
    lo, hi = np.quantile(draws[1:], [tail, 1 - tail], axis=0)
    return draws[0], lo, hi


def interval(draws: ArrayLike, seed: int, level: float = 0.95, name: str = "", sample: str | None = None) -> Estimate:
    """An Estimate from bootstrap draws whose entry 0 is the full-sample value (`percentile_band`).
    Drawn with `resample_indices` (mechtests.study.resampled), its draws pair with `bootstrap`'s
    on the same examples and seed: pass the same `sample`."""
    value, lo, hi = percentile_band(draws, level)
    kept = np.asarray(draws, dtype=np.float64)[1:]
    return Estimate(value=float(value), lo=float(lo), hi=float(hi), seed=seed, level=level, n=0, n_resamples=len(draws) - 1,
                    name=name, draws=kept, sample=sample or new_sample())


def profile_bands(draws: ArrayLike, level: float = 0.95) -> list[list[float]]:
    """[[value, lo, hi]] per layer from bootstrap draws (R + 1, L) whose row 0 is the full sample:
    a profile as mechtests.claims.figures.profile records it."""
    value, lo, hi = percentile_band(draws, level)
    return [[float(v), float(a), float(b)] for v, a, b in zip(value, lo, hi)]


def bootstrap_with_controls(
    *per_example: ArrayLike,
    controls: ArrayLike,
    statistic: Callable[..., float],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    name: str = "",
) -> Estimate:
    """Percentile bootstrap CI of `statistic(*series, control_mean)`, resampling the examples and
    the control draws together.

    controls: (n_draws, n_examples), one row per random control draw. On each resample the
    examples (columns, shared with every series) and the draws (rows) are drawn with
    replacement; `control_mean` is the resampled draws' mean per resampled example. E.g. the
    ratio of a target's mean drop to the random controls' mean drop:
    `bootstrap_with_controls(target, controls=random, statistic=ratio_of_means)`.
    """
    _check_settings(level, n_resamples)
    series = [_as_array(x, f"series {i}") for i, x in enumerate(per_example)]
    draws = _as_array(controls, "controls")
    if draws.ndim != 2:
        raise MechtestsError(f"controls must be (n_draws, n_examples), got shape {draws.shape}", "pass one row per control draw")
    n_draws, n = draws.shape
    if any(a.shape[0] != n for a in series):
        raise MechtestsError(f"series lengths {[a.shape[0] for a in series]} differ from the controls' {n} examples",
                             "pass one value per example in every series and every control row")
    value = float(statistic(*series, draws.mean(0)))
    rng = np.random.default_rng(seed)
    stats = np.empty(n_resamples, dtype=np.float64)
    for r in progress.iterate(range(n_resamples), RESAMPLES):
        rows = rng.integers(0, n, size=n)  # examples
        weights = np.bincount(rng.integers(0, n_draws, size=n_draws), minlength=n_draws) / n_draws  # control draws
        stats[r] = statistic(*(a[rows] for a in series), (weights @ draws)[rows])
    return _percentile(value, stats, seed, level, n, name=name)


def independent_difference(
    a: ArrayLike, b: ArrayLike, n_resamples: int = 1000, seed: int = 0, level: float = 0.95, name: str = ""
) -> Estimate:
    """mean(a) - mean(b) for two samples of different examples (e.g. two task regimes), each
    resampled on its own: the interval of a difference that has no pairing to keep."""
    _check_settings(level, n_resamples)
    x, y = _as_array(a, "a"), _as_array(b, "b")
    rng = np.random.default_rng(seed)
    draws = rng.choice(x, size=(n_resamples, len(x))).mean(1) - rng.choice(y, size=(n_resamples, len(y))).mean(1)
    return _percentile(float(x.mean() - y.mean()), draws, seed, level, len(x) + len(y), name=name)


def draws_halfwidth(per_draw: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of its normal-approximation interval) over independent draws, e.g. the
    mean effect of each random control set: how precisely the draws pin down their mean."""
    x = _as_array(per_draw, "per-draw values")
    if len(x) < 2:
        return float(x.mean()), float("inf")
    z = float(NormalDist().inv_cdf(0.5 + level / 2.0))
    return float(x.mean()), z * float(x.std(ddof=1)) / float(np.sqrt(len(x)))


def ratio_of_means(a: np.ndarray, b: np.ndarray) -> float:
    """mean(a) / mean(b): e.g. recovered over total effect."""
    return float(mean_of_defined(a) / mean_of_defined(b))


def paired_difference(a: np.ndarray, b: np.ndarray) -> float:
    """mean(a - b) over the same examples."""
    return float(mean_of_defined(a - b))


def normalised(m: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """(mean(m) - mean(low)) / (mean(high) - mean(low)): faithfulness and recovered fractions."""
    floor = mean_of_defined(low)
    return float((mean_of_defined(m) - floor) / (mean_of_defined(high) - floor))


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    x, y = _as_array(a, "a"), _as_array(b, "b")
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx**2).sum() * (ry**2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for value in np.unique(x):  # average ranks of ties
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks
