"""Induction in natural-language tokenizers: a random token sequence repeated, as in Olsson et al.
2022 ("In-context learning and induction heads"): the answer is the next token of the repeat.

A sequence of distinct random tokens is given COPIES times, the last copy's last token being
the answer: only copying from an earlier occurrence predicts it. Its length is drawn per
example (LENGTHS), so the distance back to the token to copy varies and a head looking a fixed
number of positions back cannot solve it. The corrupted twin swaps the answer with another token
of the sequence in the earlier copies, so the copied token (the answer, last) changes while
every token of the context stays in it; the wrong token is the one the twin copies. The tokens
are this tokenizer's ordinary tokens: lower-case words of three or more letters that encode back
to themselves with their leading space, so no special token, byte fragment or piece of a longer
word appears. The sequence begins as the tokenizer begins a text (its post-processor's special
tokens, as the prompt tasks do): SmolLM2 declares <|im_start|> its BOS, which opens a chat turn,
and copied 0.30 of 100 repeats after it against 0.48 without it (issue #31).

Why this layout and not the bundled task's (a 1-6 token span repeated once among 23 random
tokens), which the bundled pair keeps: a real model rarely completes a span that short among
random word pieces (SmolLM2-135M: 27 of 200). Measured on SmolLM2-135M's ARM, 100 sequences each
(issue #31): two copies of 10 tokens 0.48, of 15-25 tokens 0.56; three copies of 5-15 tokens
0.55, of 10-20 tokens 0.78. The adapted MDM copies none in any of these layouts.
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task, Unposable
from mechtests.tasks.natural.writer import leading_specials

LENGTHS = (10, 20)  # shortest and longest random sequence
COPIES = 3  # times the sequence is given, the last one ending in the answer


class Vocabulary:
    """The ordinary tokens of one tokenizer (sorted ids), and the special tokens it begins a text with."""

    def __init__(self, tokenizer: Any) -> None:
        self.bos: tuple[int, ...] = leading_specials(tokenizer)
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


def repeated_sequence(pool: list[int], rng: random.Random) -> tuple[list[int], list[int]]:
    """(clean, corrupted) token lists: a random sequence of distinct tokens from `pool` given
    COPIES times, the last token of the last copy the answer; the twin's earlier copies have the
    answer swapped with another token that is not the one before it, so the twin copies that one."""
    length = rng.randint(*LENGTHS)
    seq = rng.sample(pool, length)
    swap = rng.randrange(length - 2)  # neither the answer (last) nor the token before it
    twin = list(seq)
    twin[swap], twin[-1] = seq[-1], seq[swap]
    earlier = COPIES - 1
    return seq * earlier + seq, twin * earlier + seq[:-1] + [seq[swap]]


class NaturalInduction(Task):
    name = "induction"
    regime = "prefix-dominant"

    def prepare(self, tokenizer: Any) -> Vocabulary:
        return Vocabulary(tokenizer)

    def example(self, vocab: Vocabulary, rng: random.Random) -> Example:
        if len(vocab.ordinary) < LENGTHS[1]:
            raise Unposable(f"fewer than {LENGTHS[1]} ordinary word tokens")
        clean, corrupt = repeated_sequence(vocab.ordinary, rng)
        tokens = vocab.bos + tuple(clean)
        return Example(
            tokens=tokens, answer_positions=(len(tokens) - 1,), wrong=(corrupt[-1],),
            corrupted=vocab.bos + tuple(corrupt),
        )
