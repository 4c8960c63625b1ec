"""Plain-text prompts -> token ids with answer positions, for any Hugging Face tokenizer.

Prompts are plain text, never wrapped in a chat template, and begin as the tokenizer itself
begins a text: with the special tokens it prepends (LLaMA-2's <s>), or none (GPT-2, Qwen2.5,
SmolLM2, whose declared BOS <|im_start|> opens a chat turn and cost SmolLM2-135M-Instruct 8
points of IOI accuracy on 64 examples). An answer is a piece of the text; its tokens are found by encoding the text up to
the answer and up to its end, and the candidate is refused (Unposable) unless those encodings
are prefixes of the whole text's: so the ARM's left context is exactly what the tokenizer makes
of the prompt alone, and the answer tokens are the same in the prompt and in the full text.
Leading whitespace-only tokens of an answer (" 8" -> " ", "8" in per-digit tokenizers) stay in
the context: the answer is the content token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from mechtests.tasks.base import Unposable


@dataclass(frozen=True)
class Written:
    """A prompt's token ids (BOS included) and, per answer piece, its token positions."""

    tokens: tuple[int, ...]
    spans: tuple[tuple[int, ...], ...]

    @property
    def answer_positions(self) -> tuple[int, ...]:
        return tuple(p for span in self.spans for p in span)

    @property
    def answer(self) -> tuple[int, ...]:
        return tuple(self.tokens[p] for p in self.answer_positions)


class Writer:
    """Encodes the prompts of one tokenizer, with a cache (generators encode the same prefixes often)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.bos = leading_specials(tokenizer)
        self._encoded: dict[str, tuple[int, ...]] = {}
        self._blank: dict[int, bool] = {}
        self.unknown = getattr(tokenizer, "unk_token_id", None)

    def encode(self, text: str) -> tuple[int, ...]:
        """Token ids of `text`, no special tokens added."""
        if text not in self._encoded:
            self._encoded[text] = tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return self._encoded[text]

    def is_blank(self, token: int) -> bool:
        """Whether a token decodes to whitespace only (a lone space before a digit)."""
        if token not in self._blank:
            self._blank[token] = self.tokenizer.decode([token]).strip() == ""
        return self._blank[token]

    def content(self, text: str) -> tuple[int, ...]:
        """The tokens of `text` with leading whitespace-only tokens removed."""
        ids = self.encode(text)
        lead = 0
        while lead < len(ids) and self.is_blank(ids[lead]):
            lead += 1
        return ids[lead:]

    def one_token(self, word: str) -> int:
        """The single token of `word` with its leading space, else Unposable."""
        ids = self.content(" " + word)
        if len(ids) != 1 or ids[0] == self.unknown:
            raise Unposable(f"{word!r} is not one token")
        return ids[0]

    def write(self, pieces: Sequence[str], answers: Sequence[int]) -> Written:
        """The prompt made of `pieces` (concatenated), with the pieces at indices `answers` as answers."""
        text, spans, checks = "", [], []
        for i, piece in enumerate(pieces):
            if i in answers:
                before, through = self.encode(text), self.encode(text + piece)
                if through[: len(before)] != before:
                    raise Unposable("an answer merges with the text before it")
                lead = len(before)
                while lead < len(through) and self.is_blank(through[lead]):
                    lead += 1
                if lead == len(through):
                    raise Unposable("an answer has no content token")
                spans.append(tuple(range(len(self.bos) + lead, len(self.bos) + len(through))))
                checks.append(through)
            text += piece
        full = self.encode(text)
        if self.unknown is not None and self.unknown in full:
            raise Unposable("the prompt has words outside the vocabulary")
        if any(full[: len(through)] != through for through in checks):
            raise Unposable("an answer merges with the text after it")
        return Written(tokens=self.bos + full, spans=tuple(spans))


def leading_specials(tokenizer: Any) -> tuple[int, ...]:
    """The special tokens the tokenizer puts before a text of its own accord (its post-processor)."""
    plain = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    marked = list(tokenizer("a")["input_ids"])
    start = next((i for i in range(len(marked) - len(plain) + 1) if marked[i : i + len(plain)] == plain), 0)
    return tuple(int(t) for t in marked[:start])


def same_shape(clean: Written, corrupted: Written) -> None:
    """Twins must keep the token length and answer positions: else Unposable."""
    if len(clean.tokens) != len(corrupted.tokens):
        raise Unposable("twins differ in token length")
    if clean.spans != corrupted.spans:
        raise Unposable("twins differ in answer positions")
