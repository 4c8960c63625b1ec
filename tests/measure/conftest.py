"""Fixtures for the measurement tests: tiny subjects and seeded clean/corrupted examples."""

from __future__ import annotations

import pytest

import mechtests
from measure_helpers import copy_examples


@pytest.fixture(scope="session")
def subjects(tiny_paths):
    """(family, variant) -> Subject, loaded once."""
    cache: dict = {}

    def get(family: str = "llama", variant: str = "arm"):
        key = (family, variant)
        if key not in cache:
            cache[key] = mechtests.load_subject(tiny_paths[key])
        return cache[key]

    return get


@pytest.fixture(scope="session")
def examples():
    return copy_examples(8)
