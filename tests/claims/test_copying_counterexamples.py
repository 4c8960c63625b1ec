"""The copying suite's counterexamples on the bundled ARM: a missed span shrinks to a smaller one
that is still missed, and is shown decoded through the model's tokenizer (words, not ids).

To have misses on a model that copies every span, the suite's helpers are asked about a head
that is no induction head (layer 0, head 0: its strongest attention is not on the token to copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import Phase

import mechtests
from mechtests.tasks import induction_vocabulary
from mechtests.tasks.vocab import SYMBOLS

from copying_suite import load

PAIR = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"
NOT_INDUCTION = (0, 0)


def _span_length(items: list[int]) -> int:
    """The repeated span's length: the items after the distinct first segment, less the answer."""
    first_repeat = next(i for i, item in enumerate(items) if item in items[:i])
    return len(items) - first_repeat - 1


@pytest.mark.skipif(not (PAIR / "arm" / "config.json").is_file(), reason="fixtures/tiny-pair is not built")
def test_a_missed_span_shrinks_and_is_shown_decoded():
    copying = load()
    subject = mechtests.load_subject(PAIR / "arm")
    start, pool = induction_vocabulary(subject.tokenizer)
    seen: dict = {}

    def outcome(items):
        if tuple(items) not in seen:
            seen[tuple(items)] = copying._outcome(subject, copying._example(start, items), *NOT_INDUCTION)
        return seen[tuple(items)]

    generated = copying._spans(pool, 0, 10, [Phase.generate])
    assert len(generated) == 10 and generated == copying._spans(pool, 0, 10, [Phase.generate])  # seeded: the same spans
    missed = [items for items in generated if not (outcome(items).copied and outcome(items).attends)]
    assert missed, "head 0.0 should miss the token to copy on some span"
    shrunk = copying._shrunk(pool, 0, 10, outcome, missed[0])
    assert not (outcome(shrunk).copied and outcome(shrunk).attends)  # still a counterexample
    assert _span_length(shrunk) <= _span_length(missed[0])
    shown = copying._shown(subject, start, shrunk, outcome(shrunk))
    assert shown["text"] == subject.tokenizer.decode(list(start) + shrunk[:-1])
    words = shown["text"].split()
    assert words[0] == "<bos>" and set(words[1:]) <= set(SYMBOLS) and shown["expected"] in SYMBOLS
