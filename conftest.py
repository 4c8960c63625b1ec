"""Repository-wide pytest setup; kept minimal on purpose.

The mechtests plugin (options, `subject` / `pair` / `tasks` fixtures, reports) is loaded by
its pytest11 entry point once the checkout is installed (`pip install -e .`). From a checkout
that is not installed, this file loads it instead, so `pytest suites/` works either way.
"""

from __future__ import annotations

import importlib.metadata

if not any(ep.name == "mechtests" for ep in importlib.metadata.entry_points(group="pytest11")):
    pytest_plugins = ["mechtests.plugin"]
