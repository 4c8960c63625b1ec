"""How good the MDM is, on held-out text, with bootstrap intervals over rows.

- One-step masked-token accuracy: each held-out row gets a mask rate drawn from [0.15, 0.5]
  (seeded, the same masks for every model); accuracy is the share of masked tokens whose top
  prediction is right, pooled over tokens and resampled by row. The same tokens are scored for
  the MDM (masked input, bidirectional), the causal ARM (unmasked left context: next-token
  prediction) and the untrained weights run bidirectionally with the mask token.
- Right context: one span of 1-3 tokens per row, in the middle half, is masked; the MDM predicts
  it with the text to its right present, and again with everything right of the span masked.
- Bidirectionality by measurement: changing the last token moves the logits at earlier positions.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from mechtests.errors import MechtestsError
from mechtests.models import load_subject
from mechtests.models.placement import resolve_device
from mechtests.posttrain import card as cards
from mechtests.posttrain.adapter import Adapter
from mechtests.posttrain.data import read_corpus
from mechtests.posttrain.masktoken import ensure_mask_token
from mechtests.stats import Estimate, bootstrap, ratio_of_means

Logits = Callable[[torch.Tensor], torch.Tensor]  # ids (B, T) -> logits (B, T, V)
MASK_RATES = (0.15, 0.5)
INFILL_DRAWS = 4  # spans scored per held-out row for the right-context comparison (see right_context)
CHUNK = 8  # rows per forward: a (8, T, V) logits tensor of a 49k vocabulary is ~100 MB at T=64


@dataclass(frozen=True)
class Scores:
    """Per row: scored tokens predicted right, their summed cross-entropy, and how many were scored."""

    right: torch.Tensor  # (N,)
    ce: torch.Tensor  # (N,)
    total: torch.Tensor  # (N,)

    def accuracy(self, seed: int) -> Estimate:
        """Pooled token accuracy, bootstrap over rows."""
        return bootstrap(self.right, self.total, statistic=ratio_of_means, seed=seed)

    def cross_entropy(self, seed: int) -> Estimate:
        """Pooled mean cross-entropy per scored token, bootstrap over rows."""
        return bootstrap(self.ce, self.total, statistic=ratio_of_means, seed=seed)


def heldout_masks(rows: torch.Tensor, seed: int) -> torch.Tensor:
    """(N, T) bool: each row masked at a rate drawn from MASK_RATES; never position 0; at least one."""
    N, T = rows.shape
    g = torch.Generator().manual_seed(seed + 424242)
    rate = torch.rand(N, 1, generator=g) * (MASK_RATES[1] - MASK_RATES[0]) + MASK_RATES[0]  # (N, 1)
    masked = torch.rand(N, T, generator=g) < rate  # (N, T)
    masked[:, 0] = False
    masked[torch.arange(N), torch.randint(1, T, (N,), generator=g)] = True
    return masked


@torch.no_grad()
def score(logits_of: Logits, inputs: torch.Tensor, targets: torch.Tensor, scored: torch.Tensor) -> Scores:
    """Score the shifted predictions (logits at i-1 for the token at i) at the `scored` positions (N, T)."""
    right, ce = torch.zeros(len(inputs)), torch.zeros(len(inputs))
    for start in range(0, len(inputs), CHUNK):
        part = slice(start, start + CHUNK)
        logits = logits_of(inputs[part])[:, :-1]  # (b, T-1, V), on the model's device
        goal, keep = targets[part, 1:].to(logits.device), scored[part, 1:].to(logits.device)
        right[part] = ((logits.argmax(-1) == goal) & keep).sum(1).float().cpu()
        ce[part] = (F.cross_entropy(logits.float().transpose(1, 2), goal, reduction="none") * keep).sum(1).cpu()
    return Scores(right, ce, scored[:, 1:].sum(1).float())


def masked_scores(logits_of: Logits, rows: torch.Tensor, mask_id: int, seed: int) -> Scores:
    """One step of an MDM on the held-out rows with heldout_masks replaced by the mask token."""
    masked = heldout_masks(rows, seed)
    return score(logits_of, rows.masked_fill(masked, mask_id), rows, masked)


def left_context_scores(logits_of: Logits, rows: torch.Tensor, seed: int) -> Scores:
    """A causal ARM's next-token predictions of the tokens masked_scores scores (input unmasked)."""
    return score(logits_of, rows, rows, heldout_masks(rows, seed))


def infill_spans(rows: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) bool span to predict (1-3 tokens in the middle half) and (N, T) bool everything right of it."""
    N, T = rows.shape
    g = torch.Generator().manual_seed(seed + 777)
    length = torch.randint(1, 4, (N,), generator=g)
    start = torch.randint(T // 4, 3 * T // 4 - 3, (N,), generator=g)
    pos = torch.arange(T)[None]  # (1, T)
    span = (pos >= start[:, None]) & (pos < (start + length)[:, None])
    right = pos >= (start + length)[:, None]
    return span, right


def right_context(logits_of: Logits, rows: torch.Tensor, mask_id: int, seed: int) -> dict[str, Estimate]:
    """Accuracy on infilled spans with the right context present, with it masked, and the paired gain.

    Each row is scored on INFILL_DRAWS spans, one per pass (spans never see each other), so a
    64-row held-out set gives ~500 scored tokens instead of ~130; the bootstrap resamples rows.
    """
    present, hidden = [], []
    for draw in range(INFILL_DRAWS):
        span, right = infill_spans(rows, seed + 1009 * draw)
        present.append(score(logits_of, rows.masked_fill(span, mask_id), rows, span))
        hidden.append(score(logits_of, rows.masked_fill(span | right, mask_id), rows, span))
    right_p, right_h = sum(s.right for s in present), sum(s.right for s in hidden)
    total = sum(s.total for s in present)  # the same spans are scored in both conditions
    gain = bootstrap(right_p, right_h, total, statistic=accuracy_gain, seed=seed)
    return {"right_context_present": bootstrap(right_p, total, statistic=ratio_of_means, seed=seed),
            "right_context_masked": bootstrap(right_h, total, statistic=ratio_of_means, seed=seed),
            "right_context_gain": gain}


def accuracy_gain(right_present: np.ndarray, right_masked: np.ndarray, total: np.ndarray) -> float:
    """Pooled accuracy with the right context present minus with it masked, on the same scored tokens."""
    return ratio_of_means(right_present, total) - ratio_of_means(right_masked, total)


@torch.no_grad()
def later_token_effect(logits_of: Logits, rows: torch.Tensor, seed: int) -> Estimate:
    """Mean |change| of the logits at positions 0..T-2 when the last token is replaced: 0 for a causal model."""
    g = torch.Generator().manual_seed(seed + 99)
    changed = rows.clone()
    vocab = int(rows.max()) + 1
    changed[:, -1] = (rows[:, -1] + 1 + torch.randint(0, vocab - 1, (len(rows),), generator=g)) % vocab  # never the same
    moved = torch.zeros(len(rows))
    for start in range(0, len(rows), CHUNK):
        part = slice(start, start + CHUNK)
        moved[part] = (logits_of(rows[part])[:, :-1] - logits_of(changed[part])[:, :-1]).abs().mean((1, 2)).cpu()
    return bootstrap(moved, seed=seed)


def evaluate_run(out: str | Path, arm_path: str | Path, gguf_file: str | None = None, seed: int = 0,
                 device: str = "cpu") -> dict[str, Any]:
    """The acceptance measurements of a finished run, on its held-out rows; also written into its card."""
    out = Path(out)
    if not (out / "card.json").is_file() or not (out / "model.safetensors").is_file():
        raise MechtestsError(f"{out} holds no finished posttrain run", "run `mechtests posttrain ARM --out DIR` first")
    card = json.loads((out / "card.json").read_text())
    rows, spec = read_corpus(out / "train" / "corpus.safetensors")
    rows = rows[: spec["heldout_rows"]]
    where = resolve_device(device)
    mdm = load_subject(out)
    arm = load_subject(arm_path, gguf_file=gguf_file, kind="arm")
    model, tokenizer = copy.deepcopy(arm.model), copy.deepcopy(arm.tokenizer)
    untrained = Adapter(model, ensure_mask_token(model, tokenizer)).to(where).eval()  # the ARM's weights, bidirectional
    for subject in (mdm, arm):
        subject.model.to(where)
    if untrained.mask.id != mdm.mask_token_id:
        raise MechtestsError(f"{arm_path} gives mask id {untrained.mask.id}, the MDM has {mdm.mask_token_id}",
                             "pass the ARM the MDM was trained from")

    def mdm_logits(ids: torch.Tensor) -> torch.Tensor:
        return mdm.model(input_ids=ids.to(where)).logits

    def arm_logits(ids: torch.Tensor) -> torch.Tensor:
        return arm.model(input_ids=ids.to(where)).logits

    mask_id = int(mdm.mask_token_id)  # type: ignore[arg-type]
    result = {
        "heldout": f"{len(rows)} held-out rows of {rows.shape[1]} tokens, {MASK_RATES[0]:.0%}-{MASK_RATES[1]:.0%} masked, seed {seed}",
        "masked_token_accuracy": {
            "mdm": masked_scores(mdm_logits, rows, mask_id, seed).accuracy(seed).as_dict(),
            "arm_left_context": left_context_scores(arm_logits, rows, seed).accuracy(seed).as_dict(),
            "untrained_bidirectional": masked_scores(untrained.logits_of, rows, mask_id, seed).accuracy(seed).as_dict(),
        },
        "infilling": {k: v.as_dict() for k, v in right_context(mdm_logits, rows, mask_id, seed).items()},
        "later_token_effect": {"mdm": later_token_effect(mdm_logits, rows, seed).as_dict(),
                               "arm": later_token_effect(arm_logits, rows, seed).as_dict()},
    }
    card["evaluation"] = result
    cards.write(out, card)
    return result
