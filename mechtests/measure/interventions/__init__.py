"""Interventions through nnsight: cache, patch, ablate at any Site and position; batched head sweeps."""

from mechtests.measure.interventions.core import (
    ABLATIONS, Effect, ablate, ablation_values, as_pair, baseline_metrics, cache, patch, position_mask, resample_index, run_with,
)
from mechtests.measure.interventions.sweep import SweepResult, head_inputs, head_sweep, sweep_pass

__all__ = [
    "ABLATIONS", "Effect", "SweepResult", "ablate", "ablation_values", "as_pair", "baseline_metrics", "cache", "head_inputs",
    "head_sweep", "patch", "position_mask", "resample_index", "run_with", "sweep_pass",
]
