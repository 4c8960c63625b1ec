"""Repeated text: short natural sentences, then the first one again; the answer is its last word.

"Mary went to the park. The fox slept under the hat. Tom painted the door red. Mary went to the"
-> " park". Induction on natural text, as in the induction-head literature's repeated text
(Olsson et al. 2022, "In-context learning and induction heads"): the answer follows only from
the sentence's first occurrence, since every last word is drawn at random from a category and
no word fills two slots. The corrupted twin ends the first sentence with another word of the
same category, so the answer changes (the wrong token is the twin's). Not one of the paper's
five tasks: the study's induction task is random-token repeats (mechtests.tasks.natural.induction),
which an adapted MDM need not copy (SmolLM2's copies 0 of 64, issue #31) while it completes
repeated sentences; this task says whether a model copies at all. Real tokenizers only: the
bundled vocabulary has no sentences.
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task
from mechtests.tasks.natural.infilling import ANIMALS, COLORS
from mechtests.tasks.natural.ioi import NAMES, OBJECTS, PLACES
from mechtests.tasks.natural.writer import Writer, Written, same_shape

SENTENCES = 3  # sentences before the repeat, the repeated one first
# (sentence up to its last word with {S} for its subject, the subjects, the last words)
TEMPLATES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("{S} went to the", NAMES, PLACES),
    ("The {S} slept under the", ANIMALS, OBJECTS),
    ("{S} painted the door", NAMES, COLORS),
    ("The {S} ran to the", ANIMALS, PLACES),
    ("{S} gave me a", NAMES, OBJECTS),
    ("The {S} was", ANIMALS, COLORS),
    ("{S} lost the", NAMES, OBJECTS),
    ("The {S} hid behind the", ANIMALS, PLACES),
)


class NaturalRepeatText(Task):
    name = "repeat_text"
    regime = "prefix-dominant"

    def prepare(self, tokenizer: Any) -> Writer:
        return Writer(tokenizer)

    def example(self, writer: Writer, rng: random.Random) -> Example:
        templates = rng.sample(TEMPLATES, SENTENCES)
        used: set[str] = set()

        def fresh(pool: tuple[str, ...]) -> str:
            word = rng.choice([w for w in pool if w not in used])
            used.add(word)
            return word

        openings = [template.format(S=fresh(subjects)) for template, subjects, _ in templates]
        lasts = [fresh(words) for _, _, words in templates]
        twin_last = fresh(templates[0][2])
        wrong = (writer.one_token(twin_last),)
        writer.one_token(lasts[0])

        def write(first_last: str) -> Written:
            said = " ".join(f"{o} {w}." for o, w in zip(openings, [first_last] + lasts[1:]))
            return writer.write([f"{said} {openings[0]}", f" {first_last}"], answers=[1])

        clean, corrupt = write(lasts[0]), write(twin_last)
        same_shape(clean, corrupt)
        return Example(tokens=clean.tokens, answer_positions=clean.answer_positions, wrong=wrong, corrupted=corrupt.tokens)
