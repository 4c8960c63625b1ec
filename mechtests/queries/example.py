"""A task example, the unit that every task generator produces and every measurement reads.

An example is model-agnostic: the query layer (mechtests.queries.pose) alone decides what an
ARM or an MDM sees of it and where its answer logits are read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One clean prompt, its corrupted twin and its answer.

    tokens: the full sequence, answer tokens included at `answer_positions`.
    answer_positions: where the answer tokens sit in `tokens` (increasing).
    wrong: a contrasting wrong token for each answer position (logit difference = correct - wrong).
    corrupted: same length and answer positions as `tokens`; the semantic context changed so that
        the correct answer changes or loses its support.
    right_context: whether the tokens after the answer are part of the prompt (an MDM sees them;
        an ARM never does).
    good, bad: for probability-mass metrics (greater-than): token ids whose probability at the
        first answer position counts for (good) or against (bad) the answer.
    after_tie: (good, bad) at the second answer position, counted only through the probability
        that the first position holds `answer[0]` (the tie): a year written one digit per token
        is above the start year when its tens digit is above, or equal and its units digit above.
    arm: the same question posed for an ARM when it differs (infilling: the right context moved
        before the answer slot); None when the ARM reads `tokens` as it is.
    """

    tokens: tuple[int, ...]
    answer_positions: tuple[int, ...]
    wrong: tuple[int, ...]
    corrupted: tuple[int, ...]
    right_context: bool = False
    good: tuple[int, ...] | None = None
    bad: tuple[int, ...] | None = None
    arm: "Example | None" = None
    after_tie: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def answer(self) -> tuple[int, ...]:
        """The correct answer tokens, read from `tokens` at the answer positions."""
        return tuple(self.tokens[p] for p in self.answer_positions)

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if len(self.corrupted) != n:
            raise ValueError(f"corrupted has length {len(self.corrupted)}, tokens {n}: they must match")
        if not self.answer_positions or list(self.answer_positions) != sorted(set(self.answer_positions)):
            raise ValueError(f"answer_positions must be non-empty and increasing, got {self.answer_positions}")
        if self.answer_positions[0] < 1 or self.answer_positions[-1] >= n:
            raise ValueError(f"answer_positions {self.answer_positions} must lie in 1..{n - 1}")
        if len(self.wrong) != len(self.answer_positions):
            raise ValueError("wrong needs one token per answer position")
        if (self.good is None) != (self.bad is None):
            raise ValueError("good and bad go together")
        if self.after_tie is not None and (self.good is None or len(self.answer_positions) != 2):
            raise ValueError("after_tie needs good/bad and exactly two answer positions")
