"""Training text as fixed-length rows of token ids: the user's text files, or the ARM's own samples.

Self-distillation needs nothing downloaded: the ARM writes its own corpus (batched sampling with
the KV cache), which is built once, saved beside the checkpoint and reused over epochs. A chat
model answers varied writing requests (a fixed grid of asks x topics); a model without a chat
template continues from its start-of-text prefix. The task prompts are never used.
Rows are prefix + text, where the prefix is what the tokenizer puts before any text (e.g.
<bos>), so training sees sequences shaped like the ones evaluation poses.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from mechtests.errors import MechtestsError

SAMPLE_BATCH = 32  # rows sampled together; part of what a sampled row's text depends on

ASKS: tuple[str, ...] = (
    "Write a short story about {}.", "Explain {} to a curious child.", "Describe {} in a few sentences.",
    "Write a diary entry about {}.", "Tell me an interesting fact about {}.", "Write a letter to a friend about {}.",
    "What are the pros and cons of {}?", "Write a news report about {}.", "Give some advice about {}.",
    "Write a dialogue between two people about {}.", "Write a poem about {}.", "Summarize the history of {}.",
)
TOPICS: tuple[str, ...] = (
    "a rainy day in the city", "the ocean", "a lost dog", "learning to cook", "the moon", "a small village",
    "an old library", "a football match", "planting a garden", "a long train journey", "the first day at school",
    "a birthday party", "mountains in winter", "a busy market", "the invention of the printing press", "bees",
    "a thunderstorm", "a family dinner", "volcanoes", "a chess game", "moving to a new house", "a museum visit",
    "the desert at night", "a friendly robot", "baking bread", "a river", "a music festival", "the forest",
    "a science fair", "an island", "a bicycle race", "a snowy morning", "the history of money", "a painter",
    "a broken clock", "the stars", "a farm", "a hospital", "a fishing trip", "the year 1900",
)


@dataclass(frozen=True)
class CorpusSpec:
    """What the corpus is; stored with it, so a resumed run refuses a different one."""

    source: str  # "self-distillation" or "files"
    rows: int  # training rows (self-distillation: sampled; files: as many as the text gives)
    heldout_rows: int
    seq_len: int
    seed: int
    temperature: float = 1.0
    top_p: float = 0.95
    files: tuple[str, ...] = ()


def text_prefix(tokenizer: Any) -> list[int]:
    """The ids the tokenizer puts before any text (e.g. [<bos>]; often nothing)."""
    with_special = tokenizer("a")["input_ids"]
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    return list(with_special[: len(with_special) - len(plain)]) if with_special[-len(plain):] == plain else []


def rows_from_files(tokenizer: Any, files: Iterable[str | Path], seq_len: int) -> torch.Tensor:
    """(N, seq_len) rows: each file tokenized, files joined by the end-of-text token, cut into windows."""
    prefix = text_prefix(tokenizer)
    width = seq_len - len(prefix)
    ids: list[int] = []
    for path in files:
        path = Path(path)
        if not path.is_file():
            raise MechtestsError(f"no text file at {path}", "pass --text with paths of existing UTF-8 text files")
        try:
            ids += tokenizer(path.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"]
        except UnicodeDecodeError:
            raise MechtestsError(f"{path} is not UTF-8 text", "pass plain text files") from None
        if tokenizer.eos_token_id is not None:
            ids.append(int(tokenizer.eos_token_id))
    n = len(ids) // width
    if n == 0:
        raise MechtestsError(f"the text files hold {len(ids)} tokens, fewer than one row of {width}", "pass more text")
    body = torch.tensor(ids[: n * width]).reshape(n, width)  # (N, width)
    return torch.cat([torch.tensor(prefix, dtype=torch.long).expand(n, -1), body], dim=1)  # (N, seq_len)


def prompts(tokenizer: Any, n: int, seed: int) -> list[list[int]]:
    """`n` generation prompts: chat requests over the asks x topics grid, or the bare text prefix."""
    if not getattr(tokenizer, "chat_template", None):
        return [text_prefix(tokenizer) or [int(tokenizer.bos_token_id or 0)]] * n
    grid = [ask.format(topic) for ask in ASKS for topic in TOPICS]
    order = torch.randperm(len(grid), generator=torch.Generator().manual_seed(seed)).tolist()
    out = []
    for i in range(n):
        chat = [{"role": "user", "content": grid[order[i % len(grid)]]}]
        out.append(list(tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=False)))
    return out


@torch.no_grad()
def sample_rows(model: nn.Module, tokenizer: Any, batch_prompts: list[list[int]], spec: CorpusSpec, seed: int) -> torch.Tensor:
    """(B, seq_len) rows: prefix + exactly seq_len - len(prefix) sampled tokens (end-of-text suppressed)."""
    prefix = text_prefix(tokenizer)
    width = spec.seq_len - len(prefix)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    longest = max(len(p) for p in batch_prompts)
    ids = torch.tensor([[pad] * (longest - len(p)) + p for p in batch_prompts])  # (B, P), left-padded
    attention = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in batch_prompts])
    torch.manual_seed(seed)  # generate() samples from the global generator (and the GPU's)
    device = next(model.parameters()).device
    out = model.generate(input_ids=ids.to(device), attention_mask=attention.to(device), do_sample=True, temperature=spec.temperature,
                         top_p=spec.top_p, top_k=0, min_new_tokens=width, max_new_tokens=width, pad_token_id=pad,
                         use_cache=True)
    body = out[:, longest:].cpu()  # (B, width)
    return torch.cat([torch.tensor(prefix, dtype=torch.long).expand(len(batch_prompts), -1), body], dim=1)


class Corpus:
    """Rows (held-out first) that exist up front (text files) or are sampled from the ARM on demand.

    Sampled rows come in fixed batches of SAMPLE_BATCH (batch k: rows k*SAMPLE_BATCH onwards, its own
    seed), so a row's text depends only on the seed and its index, never on when it was made. The
    rows made so far are saved to `path` after every batch, so training starts as soon as the
    held-out rows and a first batch exist, and a resumed run reuses what was sampled.
    """

    def __init__(self, spec: CorpusSpec, path: Path, rows: torch.Tensor | None = None, sampler: nn.Module | None = None,
                 tokenizer: Any = None, log: Callable[[str], None] = print) -> None:
        self.spec, self.path, self.sampler, self.tokenizer, self.log = spec, path, sampler, tokenizer, log
        if rows is None:
            rows = load_corpus(path, spec) if path.is_file() else torch.zeros(0, spec.seq_len, dtype=torch.long)
        self.made = rows
        self.total = spec.rows + spec.heldout_rows
        self._prompts: list[list[int]] | None = None
        self.sampled_tokens, self.sampling_seconds = 0, 0.0

    @property
    def heldout(self) -> torch.Tensor:
        return self.rows(range(self.spec.heldout_rows))

    def train_rows(self, indices: list[int]) -> torch.Tensor:
        """(len(indices), T) training rows (index 0 is the first row after the held-out ones)."""
        return self.rows([self.spec.heldout_rows + i for i in indices])

    def rows(self, indices: Any) -> torch.Tensor:
        indices = list(indices)
        while max(indices) >= len(self.made):
            self._sample_next_batch()
        return self.made[indices]

    def _sample_next_batch(self) -> None:
        if self.sampler is None or len(self.made) >= self.total:
            raise MechtestsError(f"the corpus {self.path} has {len(self.made)} rows, fewer than the run needs",
                                 "resume with the ARM and settings the run started with")
        if self._prompts is None:
            self._prompts = prompts(self.tokenizer, self.total, self.spec.seed)
        first = len(self.made)
        t0 = time.time()
        batch = sample_rows(self.sampler, self.tokenizer, self._prompts[first: first + SAMPLE_BATCH], self.spec,
                            seed=self.spec.seed * 1_000_003 + first)
        self.sampling_seconds += time.time() - t0
        self.sampled_tokens += batch.numel()
        self.made = torch.cat([self.made, batch])
        save_corpus(self.made, self.spec, self.path)
        self.log(f"corpus: {len(self.made)}/{self.total} rows sampled "
                 f"({self.sampled_tokens / max(self.sampling_seconds, 1e-9):.0f} tokens/s)")


def save_corpus(rows: torch.Tensor, spec: CorpusSpec, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({"rows": rows.to(torch.int32).contiguous()}, tmp, metadata={"spec": json.dumps(asdict(spec))})
    os.replace(tmp, path)


def read_corpus(path: Path) -> tuple[torch.Tensor, dict[str, Any]]:
    """(N, T) rows, held-out first, and the spec they were built with (as saved)."""
    if not path.is_file():
        raise MechtestsError(f"no corpus at {path}", "point at the --out folder of a posttrain run")
    with safe_open(path, "pt") as fh:
        spec = json.loads(fh.metadata()["spec"])
    return load_file(path)["rows"].long(), spec


def load_corpus(path: Path, spec: CorpusSpec) -> torch.Tensor:
    """Rows saved by an earlier run with the same spec; a different spec is an error, not a silent mix."""
    rows, saved = read_corpus(path)
    if saved != json.loads(json.dumps(asdict(spec))):
        raise MechtestsError(f"{path} was built with a different corpus spec ({saved})",
                             "resume with the same settings, or use a fresh --out folder")
    return rows
