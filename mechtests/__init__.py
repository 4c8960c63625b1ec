"""mechtests: pytest suites for mechanistic hypotheses about ARMs and the MDMs post-trained from them."""

from __future__ import annotations

import importlib
from typing import Any

from mechtests.errors import MechtestsError
from mechtests.models import ModelSpec, Site, Subject, load_subject

__version__ = "0.1.0"

# Heavier or later layers load on first use: `mechtests.detect`, `mechtests.record`, ...
_LAZY = {
    "queries": "mechtests.queries",
    "tasks": "mechtests.tasks",
    "detect": "mechtests.detect",
    "interventions": "mechtests.interventions",
    "attribution": "mechtests.attribution",
    "circuits": "mechtests.circuits",
    "compare": "mechtests.compare",
    "stats": "mechtests.stats",
    "hypothesis": ("mechtests.hypotheses", "hypothesis"),
    "record": ("mechtests.evidence", "record"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mechtests' has no attribute {name!r}")
    if isinstance(target, tuple):
        return getattr(importlib.import_module(target[0]), target[1])
    return importlib.import_module(target)


__all__ = ["MechtestsError", "ModelSpec", "Site", "Subject", "load_subject", *_LAZY]
