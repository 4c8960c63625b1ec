"""Property-based: on ANY repeated span, the model copies, and its top induction head points
at the token to copy.

Source: the induction circuit. The `hypothesis` package generates the spans (length 1-6,
distinct symbols, anywhere in the sequence), in the induction task's format, seeded by
--mech-seed; a failing example is shrunk to a minimal one and shown. Thresholds: none to tune; each generated
example must be copied correctly, and the top induction head's strongest attention from the
last repeated token must land on the token after that token's first occurrence. A universal
claim over generated examples, so no interval: one counterexample fails it (ClaimFailed).
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import mechtests
from mechtests.outcomes import ClaimFailed
from mechtests.queries import Example, answer_logits
from mechtests.tasks.induction import LENGTH, first_occurrence_targets
from mechtests.tasks.vocab import BOS, SYMBOLS

MAX_EXAMPLES = 40


@st.composite
def repeated_spans(draw):
    """A sequence of distinct symbols, one of its spans repeated, then the symbol to copy."""
    span = draw(st.integers(1, 6))
    n_first = LENGTH - 2 - span
    seq = draw(st.permutations(SYMBOLS).map(lambda p: list(p[:n_first])))
    start = draw(st.integers(0, n_first - span - 1))
    return [BOS] + seq + seq[start:start + span] + [seq[start + span]]


def _example(subject, words: list[str]) -> Example:
    ids = tuple(subject.tokenizer.convert_tokens_to_ids(words))
    wrong = ids[1] if ids[1] != ids[-1] else ids[2]
    return Example(tokens=ids, answer_positions=(len(ids) - 1,), wrong=(wrong,), corrupted=ids)


@mechtests.hypothesis(
    claim="On any repeated span the model copies the next token, and its top induction head attends to it",
    source="induction circuit",
    expect={"arm": "holds", "mdm": "holds"},
)
def test_copies_any_repeated_span(subject, tasks, mech_seed):
    layer, head, score = mechtests.detect.induction(subject, tasks.induction[:200], return_per_example=True).top(1)[0]
    mechtests.record(f"top induction head {layer}.{head}", score)
    tried: list[int] = []

    @seed(mech_seed)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(repeated_spans())
    def copies(words):
        tried.append(1)
        example = _example(subject, words)
        predicted = answer_logits(subject, [example])[0, 0].argmax()
        if predicted != example.answer[0]:
            raise ClaimFailed(f"predicted {subject.tokenizer.convert_ids_to_tokens(int(predicted))!r}, expected {words[-1]!r}")
        query, key = first_occurrence_targets(example)
        probs = mechtests.detect.attention_patterns(subject, *_posed_ids(subject, example))[layer][0, head, query]
        if int(probs.argmax()) != key:
            raise ClaimFailed(f"head {layer}.{head} attends most to position {int(probs.argmax())}, not {key}")

    try:
        copies()
    finally:
        mechtests.record("examples tried", len(tried), max_examples=MAX_EXAMPLES)


def _posed_ids(subject, example: Example) -> tuple[torch.Tensor, torch.Tensor]:
    posed = mechtests.queries.pose(subject, [example])
    return posed.input_ids.cpu(), posed.attention_mask.cpu()
