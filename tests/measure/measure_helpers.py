"""Helpers shared by the measurement tests: seeded examples and the bundled pair."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import mechtests
from mechtests.queries import Example

PAIR = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"


def copy_examples(n: int, length: int = 12, seed: int = 0, vocab: int = 64) -> list[Example]:
    """Random prompts whose answer is an earlier token; the corruption changes two context tokens."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tokens = [2] + [rng.randrange(5, vocab) for _ in range(length - 2)]
        tokens.append(tokens[rng.randrange(1, length - 1)])
        corrupted = list(tokens)
        for p in rng.sample(range(1, length - 1), 2):
            corrupted[p] = rng.randrange(5, vocab)
        wrong = rng.randrange(5, vocab)
        out.append(Example(tokens=tuple(tokens), answer_positions=(length - 1,), wrong=(wrong,), corrupted=tuple(corrupted)))
    return out



def bundled(kind: str):
    """The bundled subject, or skip with the reason."""
    if not (PAIR / kind / "config.json").is_file():
        pytest.skip(f"fixtures/tiny-pair/{kind} is not there yet (build it with `python fixtures/build_pair.py`)")
    return mechtests.load_subject(PAIR / kind)
