"""Estimates with their uncertainty: seeded bootstrap intervals over examples, and the
three-way comparison of an estimate with a bar that decides a hypothesis (`assert est >= bar`),
at the first look that decides it when the estimate is measured in rounds (`sequential`)."""

from mechtests.stats.bootstrap import (RESAMPLES, bootstrap, bootstrap_with_controls, draws_halfwidth, independent_difference,
                                       interval, mean_of_defined, normalised, paired_difference, percentile_band, profile_bands, ratio_of_means,
                                       resample_indices, spearman)
from mechtests.stats.estimate import Decision, Estimate, decide, sample_key

__all__ = [
    "RESAMPLES", "Decision", "Estimate", "bootstrap", "bootstrap_with_controls", "draws_halfwidth",
    "independent_difference", "interval", "mean_of_defined", "normalised", "paired_difference", "percentile_band", "profile_bands",
    "decide", "ratio_of_means", "resample_indices", "sample_key", "spearman",
]
