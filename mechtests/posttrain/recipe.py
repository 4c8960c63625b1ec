"""The recipe of a post-training run: every setting, and the schedule the settings fix.

The run is deterministic for a seed: the data order (`batch_rows`) and the masks
(`step_generator`) of step s derive from (seed, s), so a resumed run equals an uninterrupted one.
The run stops at `train_tokens` or after `minutes`, whichever comes first; a checkpoint is written
every `checkpoint_minutes` and at the stop (see training.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from mechtests.errors import MechtestsError


@dataclass
class Recipe:
    """Every setting of a run; stored in the card and the checkpoint."""

    seed: int = 0
    rank: int = 0  # 0: train all weights; r > 0: a rank-r delta on every decoder projection (+ the mask row)
    alpha: float = 16.0  # the delta is scaled by alpha / rank
    lr: float | None = None  # None: 1e-3 for a low-rank delta, 1e-4 for all weights
    warmup_steps: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    batch_size: int = 8
    seq_len: int = 64
    train_tokens: int = 1_000_000  # the schedule's length: steps = train_tokens / (batch_size * seq_len)
    anneal_fraction: float = 0.1  # attention opens from causal to full over this share of the steps
    # self-distillation corpus (ignored when text files are given)
    corpus_rows: int | None = None  # None: a quarter of the training tokens, so each row is seen ~4 times
    heldout_rows: int = 64  # sampled/cut like the training rows, never trained on; the card's accuracy
    temperature: float = 1.0
    top_p: float = 0.95
    # run control
    minutes: float | None = None  # wall-clock budget of this invocation's training (sampling included, loading not)
    checkpoint_minutes: float = 10.0
    eval_every: int = 100  # steps between held-out evaluations (also at step 0 and at every stop)
    log_every: int = 10
    threads: int = 1  # one thread per process: on a shared 2-core box more threads are slower
    device: str = "cpu"  # where the model trains and samples: cpu, cuda, cuda:N or auto (placement.parse_device)
    text_files: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        positive = {"batch_size": self.batch_size, "train_tokens": self.train_tokens, "heldout_rows": self.heldout_rows,
                    "checkpoint_minutes": self.checkpoint_minutes, "eval_every": self.eval_every,
                    "log_every": self.log_every, "threads": self.threads, "alpha": self.alpha,
                    "corpus_rows": self.corpus_rows, "lr": self.lr}
        for name, value in positive.items():
            if value is not None and value <= 0:
                raise MechtestsError(f"posttrain got {name}={value}", f"pass a positive {name}")
        if self.minutes is not None and self.minutes < 0:  # 0: no training, just write the folder of a resumed run
            raise MechtestsError(f"posttrain got minutes={self.minutes}", "pass --minutes 0 or more")
        if self.rank < 0 or self.seq_len < 2 or not 0.0 <= self.anneal_fraction <= 1.0:
            raise MechtestsError(f"posttrain got rank={self.rank}, seq_len={self.seq_len}, anneal_fraction={self.anneal_fraction}",
                                 "pass rank >= 0 (0: all weights), seq_len >= 2 and anneal_fraction in [0, 1]")

    @property
    def total_steps(self) -> int:
        return max(1, math.ceil(self.train_tokens / (self.batch_size * self.seq_len)))

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-3 if self.rank > 0 else 1e-4)

    def lr_at(self, step: int) -> float:
        """Linear warmup, then cosine decay to a tenth of the peak at the last step."""
        peak = self.learning_rate
        if step < self.warmup_steps:
            return peak * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    def openness_at(self, step: int) -> float:
        anneal = self.anneal_fraction * self.total_steps
        return 1.0 if anneal < 1 else min(1.0, step / anneal)

    def command(self, arm_path: str, out: str, gguf_file: str | None) -> str:
        """The `mechtests posttrain` line that runs this recipe (settings the command has no flag for:
        see the card's recipe)."""
        flags = {"seed": "--seed", "rank": "--rank", "lr": "--lr", "batch_size": "--batch-size", "seq_len": "--seq-len",
                 "train_tokens": "--tokens", "corpus_rows": "--corpus-rows"}
        default = Recipe()
        parts = ["mechtests posttrain", arm_path, "--out", out] + (["--gguf-file", gguf_file] if gguf_file else [])
        parts += [f"{flag} {getattr(self, name)}" for name, flag in flags.items() if getattr(self, name) != getattr(default, name)]
        parts += ["--text", *self.text_files] if self.text_files else []
        return " ".join(parts)

    def schedule_fields(self) -> dict[str, Any]:
        """The settings a resumed run must share with the stopped one (the budget and logging may differ)."""
        skip = {"minutes", "checkpoint_minutes", "eval_every", "log_every", "threads", "device"}
        return json.loads(json.dumps({k: v for k, v in dataclasses.asdict(self).items() if k not in skip}))  # as saved


def batch_rows(step: int, batch_size: int, n_rows: int, seed: int) -> list[int]:
    """Row indices of one step: the first epoch in corpus order (sampled rows are used as they are
    made), later epochs in seeded permutations."""
    out = []
    for k in range(step * batch_size, (step + 1) * batch_size):
        epoch, i = divmod(k, n_rows)
        order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed * 7919 + epoch)) if epoch else None
        out.append(i if order is None else int(order[i]))
    return out


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one step's masks, fixed by the seed and the step."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step + 1)
