"""Induction in natural language: a span of random ordinary tokens recurs; the answer is the token
that followed it. The layout is the bundled task's (mechtests.tasks.induction.repeated_span),
drawn from this tokenizer's ordinary tokens: lower-case words of three or more letters that
encode back to themselves with their leading space, so no special token, byte fragment or
piece of a longer word appears. The tokenizer's BOS comes first when it has one (unlike the
prompt tasks, which begin as the tokenizer begins a text): a random sequence needs a start
position to attend to, as the bundled task's <bos>.
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task, Unposable
from mechtests.tasks.induction import LENGTH, repeated_span


class Vocabulary:
    """The ordinary tokens of one tokenizer (sorted ids), and its BOS."""

    def __init__(self, tokenizer: Any) -> None:
        bos = getattr(tokenizer, "bos_token_id", None)
        self.bos: tuple[int, ...] = () if bos is None else (int(bos),)
        special = set(getattr(tokenizer, "all_special_ids", []))
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        # A cheap first cut on the raw pieces (word-start markers of byte-level and SentencePiece
        # vocabularies stripped), then the real test: decoding and encoding back.
        ids = [i for i, p in enumerate(pieces) if i not in special and p and _wordlike(p.lstrip("Ġ▁ "))]
        words = [w.strip() for w in tokenizer.batch_decode([[i] for i in ids])]
        candidates = [(i, w) for i, w in zip(ids, words) if _wordlike(w)]
        encoded = tokenizer([" " + w for _, w in candidates], add_special_tokens=False)["input_ids"] if candidates else []
        self.ordinary = [i for (i, _), enc in zip(candidates, encoded) if list(enc) == [i]]


def _wordlike(text: str) -> bool:
    return len(text) >= 3 and text.isascii() and text.isalpha() and text.islower()


class NaturalInduction(Task):
    name = "induction"
    regime = "prefix-dominant"

    def prepare(self, tokenizer: Any) -> Vocabulary:
        return Vocabulary(tokenizer)

    def example(self, vocab: Vocabulary, rng: random.Random) -> Example:
        if len(vocab.ordinary) < LENGTH:
            raise Unposable(f"fewer than {LENGTH} ordinary word tokens")
        clean, corrupt = repeated_span(vocab.ordinary, rng)
        tokens = vocab.bos + tuple(clean)
        return Example(
            tokens=tokens, answer_positions=(len(tokens) - 1,), wrong=(corrupt[-1],),
            corrupted=vocab.bos + tuple(corrupt),
        )
