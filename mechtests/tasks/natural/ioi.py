"""IOI in natural language, in the style of Wang et al. 2022 ("Interpretability in the wild").

"Then, Mary and John went to the store. John gave a drink to" -> " Mary". Two names are
introduced (ABBA or BABA order), the subject S acts, and the answer is the other one, the
indirect object IO; the wrong token is S. The corrupted twin is the ABC distribution: the acting
name is a third name C, so neither introduced name is singled out. Names, places and objects
must be single tokens with their leading space; a candidate using one that is not is dropped.
"""

from __future__ import annotations

import random
from typing import Any

from mechtests.queries.example import Example
from mechtests.tasks.base import Task, Unposable
from mechtests.tasks.natural.writer import Writer, Written, same_shape

# {A} and {B} are the introduced names in order, {S} the actor; the answer follows the template.
TEMPLATES: tuple[str, ...] = (
    "Then, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to",
    "Then, {A} and {B} had a lot of fun at the {PLACE}. {S} gave a {OBJECT} to",
    "Then, {A} and {B} were working at the {PLACE}. {S} decided to give a {OBJECT} to",
    "Then, {A} and {B} were thinking about going to the {PLACE}. {S} wanted to give a {OBJECT} to",
    "Then, {A} and {B} had a long argument, and afterwards {S} said to",
    "After {A} and {B} went to the {PLACE}, {S} gave a {OBJECT} to",
    "When {A} and {B} got a {OBJECT} at the {PLACE}, {S} decided to give it to",
    "When {A} and {B} got a {OBJECT} at the {PLACE}, {S} decided to give the {OBJECT} to",
    "While {A} and {B} were working at the {PLACE}, {S} gave a {OBJECT} to",
    "While {A} and {B} were walking to the {PLACE}, {S} gave a {OBJECT} to",
    "After lunch, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to",
    "Afterwards, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to",
    "Then, {A} and {B} had a long argument. Afterwards {S} said to",
    "Friends {A} and {B} found a {OBJECT} at the {PLACE}. {S} gave it to",
    "At the {PLACE}, {A} and {B} found a {OBJECT}. {S} handed it to",
    "{A} and {B} walked to the {PLACE} together. Later, {S} passed a {OBJECT} to",
    "Yesterday {A} and {B} visited the {PLACE}, where {S} bought a {OBJECT} for",
)
NAMES: tuple[str, ...] = (
    "Mary", "John", "Tom", "James", "Anna", "Paul", "Sarah", "David", "Laura", "Mark", "Emma", "Peter",
    "Lisa", "Daniel", "Kate", "Michael", "Susan", "Robert", "Linda", "George", "Alice", "Jack", "Helen",
    "Steven", "Rachel", "Thomas", "Maria", "Richard", "Emily", "Brian", "Amy", "Kevin", "Jessica", "Eric",
    "Julia", "Adam", "Grace", "Ryan", "Sophie", "Henry", "Anne", "Chris", "Rose", "Frank", "Karen", "Sam",
    "Lucy", "Joe", "Jane", "Martin", "Nancy", "Bill", "Diana", "Andrew", "Claire", "Patrick", "Ellen",
    "Simon", "Alex", "Victoria",
)
PLACES: tuple[str, ...] = (
    "store", "park", "school", "garden", "market", "river", "station", "hospital", "office", "restaurant",
    "library", "beach", "house", "church", "museum", "cafe", "farm", "hotel", "bank", "zoo",
)
OBJECTS: tuple[str, ...] = (
    "drink", "book", "ball", "kite", "letter", "ring", "bottle", "bag", "pen", "phone", "key", "box",
    "basket", "hat", "cake", "flower", "card", "gift", "map", "watch",
)


class NaturalIOI(Task):
    name = "ioi"
    regime = "prefix-dominant"

    def prepare(self, tokenizer: Any) -> Writer:
        return Writer(tokenizer)

    def example(self, writer: Writer, rng: random.Random) -> Example:
        template = rng.choice(TEMPLATES)
        io, s, third = rng.sample(NAMES, 3)  # indirect object, subject, the ABC twin's actor
        first, second = (io, s) if rng.random() < 0.5 else (s, io)  # ABBA and BABA orders
        place, obj = rng.choice(PLACES), rng.choice(OBJECTS)
        for word in (io, s, third, place, obj):
            writer.one_token(word)

        def write(actor: str) -> Written:
            prompt = template.format(A=first, B=second, S=actor, PLACE=place, OBJECT=obj)
            return writer.write([prompt, " " + io], answers=[1])

        clean, corrupt = write(s), write(third)
        same_shape(clean, corrupt)
        if len(clean.answer_positions) != 1:
            raise Unposable("the answer name is not one token in context")
        return Example(
            tokens=clean.tokens, answer_positions=clean.answer_positions,
            wrong=(writer.one_token(s),), corrupted=corrupt.tokens,
        )
