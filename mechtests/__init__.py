"""mechtests: pytest suites for mechanistic hypotheses about ARMs and the MDMs post-trained from them.

The house, bottom up; a module imports only from its own layer or a lower one (tests/test_layers.py):

    errors       MechtestsError, the one user-facing error (this package imports only it at start-up)
    claims/      hypotheses, evidence, outcomes and figures of a claim: the vocabulary every layer speaks
    models/      checkpoints in, Subjects out: families, loading, sites, placement, compat, weights' sha256
    run/         run infrastructure: settings, pairs, budgets, batching, the measurement cache, progress
    stats/       estimates: seeded bootstrap intervals over examples, compared with a bar three ways
    queries/     examples in, model input and answer logits out; the one place ARM and MDM differ
    tasks/       the bundled task generators, their natural-language twins, the pair check
    measure/     measurements: detectors, interventions, attribution, circuits, contrasts, ablations
    posttrain/   (beside measure) adapt an ARM into an MDM with the published recipe
    study        the paper's pipeline, computed once and shared by the hypotheses that need it
    reports/     results.json, its renderers and the baseline gate
    plugin/      the pytest plugin: options, fixtures, collection, the outcome table
    commands/    the `mechtests` subcommands (cli.py dispatches to them)
    testing/     helpers for testing mechtests itself: tiny checkpoints, a suite harness
    cli          the `mechtests` console script, on top
"""

from __future__ import annotations

import importlib
from typing import Any

from mechtests.errors import MechtestsError

__version__ = "0.1.0"

# Everything but the error type loads on first use (the pytest plugin imports this package
# early, and torch/nnsight should load only when a test needs a model).
_LAZY = {
    "load_subject": ("mechtests.models", "load_subject"),
    "ModelSpec": ("mechtests.models", "ModelSpec"),
    "Site": ("mechtests.models", "Site"),
    "Subject": ("mechtests.models", "Subject"),
    "queries": "mechtests.queries",
    "tasks": "mechtests.tasks",
    "detect": "mechtests.measure.detect",
    "interventions": "mechtests.measure.interventions",
    "attribution": "mechtests.measure.attribution",
    "circuits": "mechtests.measure.circuits",
    "contrasts": "mechtests.measure.contrasts",
    "ablations": "mechtests.measure.ablations",
    "stats": "mechtests.stats",
    "study": "mechtests.study",
    "hypothesis": ("mechtests.claims.hypotheses", "hypothesis"),
    "record": ("mechtests.claims.evidence", "record"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mechtests' has no attribute {name!r}")
    if isinstance(target, tuple):
        return getattr(importlib.import_module(target[0]), target[1])
    return importlib.import_module(target)


__all__ = ["MechtestsError", *_LAZY]
