"""The copying suite (suites/test_copying_property.py) as a module, so that tests check its own bar
and helpers rather than copies of them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PATH = Path(__file__).resolve().parents[2] / "suites" / "test_copying_property.py"
NAME = "mechtests_suite_copying_property"


def load() -> ModuleType:
    """The suite module, imported once (registered before it runs: its dataclasses need it)."""
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(NAME, PATH)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[NAME] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[NAME]
