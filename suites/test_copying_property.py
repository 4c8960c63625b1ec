"""Property-based: on ANY repeated span, the model copies, and its top induction head points
at the token to copy.

Source: the induction circuit. The `hypothesis` package generates the spans (length 1-6,
distinct tokens, anywhere in the sequence), in the induction task's format and from the tokens
it draws in the model's own tokenizer (mechtests.tasks.induction_vocabulary: the bundled symbols,
or a real tokenizer's ordinary word tokens), seeded by --mech-seed; the run budget sets how many
(mechtests.run.budget: 40 by default) and how many task examples pick the head (200 by default). A
failing example is shown, shrunk to a minimal one unless the budget says not to (`quick`: on a
real model every shrink step is a forward pass). Only the first counterexample is raised, so a
claim with two kinds of counterexample fails rather than erring. Thresholds: none to tune; each generated
example must be copied correctly, and the top induction head's strongest attention from the
last repeated token must land on the token after that token's first occurrence. A universal
claim over generated examples, so no interval: one counterexample fails its assert.
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import mechtests
from mechtests.queries import Example, answer_logits
from mechtests.tasks import induction_vocabulary
from mechtests.tasks.induction import LENGTH, MAX_SPAN, MIN_SPAN, first_occurrence_targets


@st.composite
def repeated_spans(draw, pool: list[int]) -> list[int]:
    """Distinct tokens from `pool`, one of their spans repeated, then the token to copy
    (LENGTH - 1 tokens: the task's layout after its start token)."""
    span = draw(st.integers(MIN_SPAN, MAX_SPAN))
    n_first = LENGTH - 2 - span
    seq = draw(st.lists(st.sampled_from(pool), min_size=n_first, max_size=n_first, unique=True))
    start = draw(st.integers(0, n_first - span - 1))
    return seq + seq[start:start + span] + [seq[start + span]]


def _example(start: tuple[int, ...], items: list[int]) -> Example:
    """The posed example: the start token(s), then the items; wrong = the first item that is not the answer."""
    ids = start + tuple(items)
    wrong = items[0] if items[0] != items[-1] else items[1]
    return Example(tokens=ids, answer_positions=(len(ids) - 1,), wrong=(wrong,), corrupted=ids)


@mechtests.hypothesis(
    claim="On any repeated span the model copies the next token, and its top induction head attends to it",
    source="induction circuit",
    expect={"arm": "holds", "mdm": "holds"},
)
def test_copies_any_repeated_span(subject, tasks, mech_seed, mech_budget):
    examples = tasks.induction[:mech_budget.check_pool]
    scores = mechtests.detect.induction(subject, examples)
    layer, head, _ = scores.top(1)[0]
    mechtests.record(f"top induction head {layer}.{head}", scores[layer, head])
    start, pool = induction_vocabulary(subject.tokenizer)
    token = subject.tokenizer.convert_ids_to_tokens
    tried: list[int] = []

    @seed(mech_seed)
    @settings(max_examples=mech_budget.property_examples, deadline=None, database=None, report_multiple_bugs=False,
              phases=[p for p in Phase if p is not Phase.shrink or mech_budget.shrink],
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(repeated_spans(pool))
    def copies(items):
        tried.append(1)
        example = _example(start, items)
        predicted = int(answer_logits(subject, [example])[0, 0].argmax())
        assert predicted == example.answer[0], f"predicted {token(predicted)!r}, expected {token(items[-1])!r}"
        query, key = first_occurrence_targets(example)
        probs = mechtests.detect.attention_patterns(subject, *_posed_ids(subject, example))[layer][0, head, query]
        assert int(probs.argmax()) == key, f"head {layer}.{head} attends most to position {int(probs.argmax())}, not {key}"

    try:
        copies()
    finally:
        mechtests.record("examples tried", len(tried), max_examples=mech_budget.property_examples)


def _posed_ids(subject, example: Example) -> tuple[torch.Tensor, torch.Tensor]:
    posed = mechtests.queries.pose(subject, [example])
    return posed.input_ids.cpu(), posed.attention_mask.cpu()
