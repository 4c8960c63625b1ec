"""The shared word-level vocabulary of the bundled tasks, and a tokenizer built from it.

One word is one token, so an answer is always exactly one token and a test can write prompts
as plain strings. The tokenizer is a `PreTrainedTokenizerFast`, so it is saved beside the
bundled models (`save_pretrained`) and loads back through `AutoTokenizer`.
"""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from mechtests.errors import MechtestsError

PAD, UNK, BOS, EOS, MASK = "<pad>", "<unk>", "<bos>", "<eos>", "<mask>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS, MASK)

# Numbers 0..99 serve greater-than (years) and countdown (operands, targets).
NUMBERS: tuple[str, ...] = tuple(str(i) for i in range(100))
# Meaningless symbols for the induction task: only their repetition carries information.
SYMBOLS: tuple[str, ...] = tuple(f"s{i}" for i in range(48))
NAMES: tuple[str, ...] = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    "ivan", "judy", "mallory", "nina", "oscar", "peggy", "rupert", "sybil",
)
PLACES: tuple[str, ...] = ("store", "park", "school", "garden", "market", "river")
OBJECTS: tuple[str, ...] = ("drink", "book", "ball", "kite", "letter", "ring")
COLORS: tuple[str, ...] = ("red", "blue", "green", "black", "white", "pink", "gray", "gold", "brown", "teal")
ANIMALS: tuple[str, ...] = ("cat", "dog", "fox", "owl", "bee", "cow", "pig", "elk", "ant", "yak")
# Filler text: a tiny grammar of ordinary words, so the ARM also learns plain language modelling.
ADJECTIVES: tuple[str, ...] = ("big", "small", "old", "new", "quiet", "loud", "happy", "sad", "warm", "cold")
NOUNS: tuple[str, ...] = ("man", "woman", "child", "house", "tree", "car", "boat", "city", "road", "hill")
VERBS: tuple[str, ...] = ("sees", "likes", "finds", "leaves", "helps", "follows", "paints", "visits")
STRUCTURE: tuple[str, ...] = (
    "when", "and", "went", "to", "the", "gave", "a", ",", ".", ":", ";", "=",
    "from", "year", "use", "make", "has", "owns", "then", "is",
)

WORDS: tuple[str, ...] = (
    SPECIALS + NUMBERS + SYMBOLS + NAMES + PLACES + OBJECTS + COLORS + ANIMALS
    + ADJECTIVES + NOUNS + VERBS + STRUCTURE
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer over WORDS that prepends <bos>, as every task example starts with it."""
    if len(set(WORDS)) != len(WORDS):
        raise AssertionError("duplicate word in the task vocabulary")
    vocab = {w: i for i, w in enumerate(WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD, unk_token=UNK, bos_token=BOS, eos_token=EOS, mask_token=MASK,
        model_max_length=64,
    )


class Lexicon:
    """Word -> id for one tokenizer, checked once: a task fails early, in one line, on a foreign tokenizer."""

    def __init__(self, tokenizer, words: tuple[str, ...], task: str) -> None:
        vocab = tokenizer.get_vocab()
        missing = [w for w in words if w not in vocab]
        if missing:
            shown = ", ".join(repr(w) for w in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise MechtestsError(
                f"task {task!r} needs {len(missing)} words that this tokenizer lacks ({shown})",
                "generate the bundled tasks with mechtests.tasks.build_tokenizer() or the bundled pair's "
                "tokenizer (fixtures/tiny-pair/arm), not a real model's tokenizer",
            )
        self.vocab = {w: vocab[w] for w in words}

    def ids(self, words: list[str]) -> tuple[int, ...]:
        """Token ids for a list of words."""
        return tuple(self.vocab[w] for w in words)
