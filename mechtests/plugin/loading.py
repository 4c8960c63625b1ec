"""What the plugin does with models: place each model of the pair, load it, set torch's
threads, build task sets. Imported only when a test first needs a model or a task set
(mechtests.plugin.fixtures): it imports torch and transformers, which a pytest run that never
loads a model must not pay for.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from mechtests.models import identity, load_subject, placement
from mechtests.plugin.state import state_of
from mechtests.run import cache
from mechtests.tasks import TaskSet

__all__ = ["TaskSet", "apply_threads", "load", "placed_options"]


def placed_options(config: pytest.Config, role: str) -> dict[str, Any]:
    """The run's load options for `role` (mechtests.run.settings.RunSettings.load_options) with the
    device and dtype chosen (mechtests.models.placement): `auto` and `cuda` give this xdist worker
    its own GPU, one per model of the pair when there are enough; dtype `auto` is bfloat16 on a
    GPU and float32 on the CPU."""
    settings = state_of(config).settings
    options = settings.load_options(role)
    roles = settings.pair.roles
    device = placement.device_for(options.get("device") or "auto", os.environ.get("PYTEST_XDIST_WORKER"),
                                  models=max(1, len(roles)), model=roles.index(role) if role in roles else 0)
    options["device"] = str(device)
    options["dtype"] = placement.resolve_dtype(options.get("dtype") or "auto", device)
    return options


def load(config: pytest.Config, role: str, path: str) -> Any:
    """The default loader: mechtests.load_subject with `placed_options`; the weights' sha256 is
    read once per file version and kept in the cache folder (mechtests.models.identity)."""
    identity.remember_in(cache.cache_dir(), verify=state_of(config).settings["verify-weights"])
    return load_subject(path, **placed_options(config, role))


def apply_threads() -> int:
    """Set torch's threads for this process (mechtests.models.placement.apply_threads)."""
    return placement.apply_threads()
