"""The seven family stand-ins, built once per session into a tmp folder and loaded once."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

import mechtests
from mechtests.queries import Example
from standins import EXPECTED, STANDINS, build_standin


@pytest.fixture(scope="session")
def standin_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # transformers copies a folder's model code to a shared cache under the folder's base name:
    # a name of this process's own keeps xdist workers and parallel sessions from overwriting each other's.
    root = tmp_path_factory.mktemp("standins")
    return {name: build_standin(name, root / f"{name}-{os.getpid()}", seed=i) for i, name in enumerate(STANDINS)}


@pytest.fixture(scope="session")
def standins(standin_paths: dict[str, Path]):
    """name -> Subject, loaded with no options beyond what the family needs (EXPECTED)."""
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = mechtests.load_subject(standin_paths[name], **EXPECTED[name][3])
        return cache[name]

    return get


@pytest.fixture(scope="session")
def copy_task() -> list[Example]:
    """Equal-length prompts whose answer repeats an earlier token; the corruption rewrites the context."""
    rng = random.Random(0)
    out = []
    for _ in range(6):
        tokens = [2] + [rng.randrange(5, 60) for _ in range(9)]
        tokens.append(tokens[3])
        corrupted = [2] + [rng.randrange(5, 60) for _ in range(9)] + [tokens[3]]
        out.append(Example(tokens=tuple(tokens), answer_positions=(10,), wrong=(tokens[5],), corrupted=tuple(corrupted)))
    return out
