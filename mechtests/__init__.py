"""mechtests: pytest suites for mechanistic hypotheses about ARMs and the MDMs post-trained from them."""

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
