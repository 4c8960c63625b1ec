"""Head detectors: induction, previous-token and duplicate-token scores, an [n_layers, n_heads] tensor.

Every score is the attention probability a head puts on a *designated target* key, averaged
over the query positions that have one, then over examples. Targets always lie at or before
the query, so a bidirectional (MDM) head gets no credit for attention it spreads into the
future: that mass simply is not on the target. Because such a head also has less mass left
for the past, each result also carries a causal-normalised score, the target mass divided by
the head's mass on keys at or before the query (identical to the plain score for an ARM).

- induction: query t whose token occurred earlier at p (most recent earlier occurrence, with
  p + 1 < t); target p + 1, the token that followed it.
- previous_token: every query t >= 1; target t - 1.
- duplicate_token: query t whose token occurred earlier; targets all earlier occurrences
  (summed mass). Later duplicates, visible only to a bidirectional model, are not credited.

Each result also carries the chance level: the score a head would get if it attended uniformly
over the keys its model lets it see (keys at or before the query for an ARM, every key for an
MDM, padding never), computed from the same targets and queries. A claim that a head "is" an
induction or previous-token head compares its score with this baseline of the same model, so
the bar means the same on a 4-layer and a 30-layer model, on short and long sequences, and for
causal and bidirectional attention (each against its own indifferent head).

Padding, masked answer slots (MDM) and special tokens are neither queries nor targets.
Inputs: a sequence of Examples (posed through the query layer, clean side) or a (B, T) token
tensor, e.g. `repeated_tokens(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from mechtests.claims.evidence import current_seed
from mechtests.errors import MechtestsError
from mechtests.queries import pose
from mechtests.run import batching
from mechtests.stats import Estimate, bootstrap, sample_key

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries.example import Example

Targets = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class HeadScores:
    """scores, causal: (L, H); per_example, causal_per_example: (B, L, H), NaN where an example has no query;
    uniform_per_example: (B,), the score of a head attending uniformly over its allowed keys.

    Each head's score is an estimate over the examples: `scores[layer, head]`, `scores.best()`
    and `scores.uniform()` are Estimates (bootstrap over examples, the running test's seed, all
    of one sample, so `best / uniform` is a paired ratio) that a hypothesis asserts on;
    `scores.layers(0, 3)` keeps layers 0-3 and their numbering."""

    scores: torch.Tensor
    per_example: torch.Tensor
    causal: torch.Tensor
    causal_per_example: torch.Tensor
    uniform_per_example: torch.Tensor
    name: str = "head"  # the detector's rule, e.g. "induction"
    sample: str = ""  # the examples' identity (mechtests.stats.sample_key): same examples pair up
    first_layer: int = 0  # the model layer of row 0 (after .layers())

    def top(self, k: int = 5) -> list[tuple[int, int, float]]:
        """The k best heads as (layer, head, score)."""
        flat = self.scores.flatten()
        idx = flat.argsort(descending=True)[:k]
        n_heads = self.scores.shape[1]
        return [(self.first_layer + int(i) // n_heads, int(i) % n_heads, float(flat[i])) for i in idx]

    def __getitem__(self, where: tuple[int, int]) -> Estimate:
        """Head `layer.head`'s mean score over the examples, with its bootstrap interval."""
        layer, head = where
        row = layer - self.first_layer
        if not 0 <= row < self.scores.shape[0] or not 0 <= head < self.scores.shape[1]:
            raise MechtestsError(f"no head {layer}.{head} among layers {self.first_layer}-{self.first_layer + self.scores.shape[0] - 1} "
                                 f"and {self.scores.shape[1]} heads", "index as scores[layer, head]")
        return bootstrap(self.per_example[:, row, head], seed=current_seed(), name=f"{self.name} head {layer}.{head}", sample=self.sample)

    def best(self) -> Estimate:
        """The best head's estimate (the head with the highest mean score), named for the report."""
        layer, head, _ = self.top(1)[0]
        return self[layer, head].named(f"best {self.name} head {layer}.{head}")

    def uniform(self) -> Estimate:
        """The chance level: the mean score of a head that attends uniformly over the keys its model
        allows (see the module docstring), with its bootstrap interval over the same examples."""
        return bootstrap(self.uniform_per_example, seed=current_seed(), name=f"{self.name} score under uniform attention",
                         sample=self.sample)

    def layers(self, first: int, last: int) -> HeadScores:
        """The heads of layers `first` to `last` (inclusive), keeping the model's layer numbers."""
        lo, hi = first - self.first_layer, last - self.first_layer + 1
        if not 0 <= lo < hi <= self.scores.shape[0]:
            raise MechtestsError(f"layers {first}-{last} are not among {self.first_layer}-{self.first_layer + self.scores.shape[0] - 1}",
                                 "pass first <= last within the model's layers")
        return replace(self, scores=self.scores[lo:hi], per_example=self.per_example[:, lo:hi], causal=self.causal[lo:hi],
                       causal_per_example=self.causal_per_example[:, lo:hi], first_layer=first)


def repeated_tokens(vocab: int | Sequence[int], n: int, length: int, seed: int = 0, bos: int | None = None) -> torch.Tensor:
    """(n, 2*length [+1]) tokens: a random sequence of distinct tokens, then the same again.

    vocab: a size (ids 5..vocab-1 are drawn, skipping the usual specials) or explicit ids.
    """
    ids = torch.arange(5, vocab) if isinstance(vocab, int) else torch.as_tensor(list(vocab))
    if len(ids) < length:
        raise MechtestsError(f"repeated_tokens needs {length} distinct ids, vocabulary has {len(ids)}", "pass a shorter length")
    gen = torch.Generator().manual_seed(seed)
    rows = torch.stack([ids[torch.randperm(len(ids), generator=gen)[:length]] for _ in range(n)])  # (n, length)
    seq = torch.cat([rows, rows], dim=1)  # (n, 2 * length)
    if bos is not None:
        seq = torch.cat([torch.full((n, 1), bos, dtype=seq.dtype), seq], dim=1)
    return seq


# --- targets: (B, T) ids, (B, T) valid -> (B, T, T) bool target[b, query, key] ----------------------
def _earlier_same(ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, Tq, Tk): key < query, same token, both valid."""
    T = ids.shape[1]
    same = ids[:, :, None] == ids[:, None, :]  # (B, T, T)
    before = torch.ones(T, T, dtype=torch.bool).tril(-1)  # key < query
    return same & before & valid[:, :, None] & valid[:, None, :]


def induction_targets(ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Target p+1 for the most recent earlier occurrence p of the query's token (p + 1 < query)."""
    B, T = ids.shape
    earlier = _earlier_same(ids, valid)  # (B, T, T)
    pos = torch.arange(T)
    last = torch.where(earlier, pos, torch.full_like(pos, -1)).amax(-1)  # (B, T) most recent p or -1
    key = last + 1
    ok = (last >= 0) & (key < pos[None, :])
    target = torch.zeros(B, T, T, dtype=torch.bool)
    b, q = ok.nonzero(as_tuple=True)
    target[b, q, key[b, q]] = True
    return target & valid[:, None, :]


def previous_token_targets(ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Target t-1 for every query t >= 1."""
    T = ids.shape[1]
    prev = torch.zeros(T, T, dtype=torch.bool)
    prev[torch.arange(1, T), torch.arange(T - 1)] = True
    return prev[None] & valid[:, :, None] & valid[:, None, :]


def duplicate_token_targets(ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Targets: every earlier occurrence of the query's token."""
    return _earlier_same(ids, valid)


# --- scoring ---------------------------------------------------------------------------------------
def score_from_probs(probs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example scores (B, H) and causal-normalised ones from one layer's probs (B, H, T, T).

    Independent of how the probabilities were obtained, so the tests feed it transformers'
    own `output_attentions` as well.
    """
    T = probs.shape[-1]
    has_query = target.any(-1)  # (B, T)
    n_queries = has_query.sum(-1).to(probs.dtype)  # (B,)
    mass = (probs * target[:, None].to(probs.dtype)).sum(-1)  # (B, H, T)
    causal = torch.ones(T, T, dtype=probs.dtype).tril()  # key <= query
    past = (probs * causal).sum(-1).clamp_min(1e-12)  # (B, H, T)
    q = has_query[:, None].to(probs.dtype)  # (B, 1, T)
    per_example = (mass * q).sum(-1) / n_queries[:, None]  # (B, H); NaN where no query
    per_example_causal = (mass / past * q).sum(-1) / n_queries[:, None]
    return per_example, per_example_causal


def uniform_probs(attention: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """(B, 1, T, T): attention spread evenly over the keys a query may see (non-padding keys; for
    a causal model only those at or before the query), the detectors' chance level."""
    T = attention.shape[1]
    allowed = attention.bool()[:, None, None, :].expand(-1, 1, T, T)
    if not bidirectional:
        allowed = allowed & torch.ones(T, T, dtype=torch.bool).tril()
    allowed = allowed.float()
    return allowed / allowed.sum(-1, keepdim=True).clamp_min(1.0)


def _bidirectional(subject: "Subject") -> bool:
    """As measured at load (mechtests.models.validate), or from the kind where it was not measured."""
    return subject.direction == "bidirectional" if subject.direction != "unmeasured" else subject.is_mdm


def _inputs(subject: "Subject", data: "Sequence[Example] | torch.Tensor") -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, torch.Tensor):
        if data.ndim != 2:
            raise MechtestsError(f"detectors take a (B, T) token tensor, got shape {tuple(data.shape)}", "pass tokens[None] for one sequence")
        return data.long(), torch.ones_like(data, dtype=torch.long)
    posed = pose(subject, list(data))
    return posed.input_ids.cpu(), posed.attention_mask.cpu()


def _valid(subject: "Subject", ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    special = {subject.mask_token_id, getattr(subject.tokenizer, "pad_token_id", None)}
    valid = attention.bool().clone()
    for tok in special - {None}:
        valid &= ids != int(tok)  # type: ignore[arg-type]
    return valid


def attention_patterns(subject: "Subject", input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's attention probabilities (B, H, T, T), read through nnsight."""
    probs: list = []
    with torch.no_grad(), subject.nn.trace(**subject.model_inputs(input_ids.to(subject.device), attention_mask.to(subject.device))):
        for layer in range(subject.n_layers):
            probs.append(subject.attention_probs(layer).save())
    return [p.detach().float().cpu() for p in probs]


def head_scores(
    subject: "Subject", data: "Sequence[Example] | torch.Tensor", targets: Targets, batch_size: int | None = None
) -> HeadScores:
    """Scores of every head for a target rule, batched: `batch_size` rows per pass, or None for
    as many as the memory budget holds (mechtests.run.batching); each row is scored on its own."""
    ids, attention = _inputs(subject, data)
    if ids.shape[0] == 0:
        raise MechtestsError("head detector got no examples", "pass at least one example or sequence")
    rule = getattr(targets, "__name__", "head").removesuffix("_targets").replace("_", "-")

    def chunk(start: int, stop: int, _rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b_ids, b_att = ids[start:stop], attention[start:stop]
        target = targets(b_ids, _valid(subject, b_ids, b_att))  # (b, T, T)
        layers = [score_from_probs(p, target) for p in attention_patterns(subject, b_ids, b_att)]
        uniform, _ = score_from_probs(uniform_probs(b_att, _bidirectional(subject)), target)  # (b, 1)
        return torch.stack([s for s, _ in layers], dim=1), torch.stack([c for _, c in layers], dim=1), uniform[:, 0]

    rows = batch_size or batching.rows_for(subject, ids.shape[1], patterns=True)
    parts = batching.in_batches(chunk, ids.shape[0], rows, f"{rule} scores on {subject.kind}", "examples")
    per_example, per_example_causal, uniform = (torch.cat([p[i] for p in parts]) for i in range(3))  # (B, L, H) twice, (B,)
    return HeadScores(per_example.nanmean(0), per_example, per_example_causal.nanmean(0), per_example_causal, uniform,
                      name=rule, sample=sample_key(data))


def _detector(targets: Targets, doc: str) -> Callable[..., HeadScores]:
    def detect(subject: "Subject", data: "Sequence[Example] | torch.Tensor", batch_size: int | None = None) -> HeadScores:
        return head_scores(subject, data, targets, batch_size)

    detect.__doc__ = doc + (
        "\n\n    Returns a HeadScores: `.scores` (n_layers, n_heads) in [0, 1], `.per_example` (B, L, H), the causal-"
        "normalised variants, and per-head estimates (`[layer, head]`, `.best()`, `.layers(a, b)`) with the chance"
        " level `.uniform()`. See the module"
        " docstring for how attention to future positions is treated."
    )
    return detect


induction = _detector(induction_targets, "Mass from a repeated token onto the token after its previous occurrence.")
induction.__name__ = "induction"
previous_token = _detector(previous_token_targets, "Mass from each token onto the token just before it.")
previous_token.__name__ = "previous_token"
duplicate_token = _detector(duplicate_token_targets, "Mass from a repeated token onto its earlier occurrences.")
duplicate_token.__name__ = "duplicate_token"

__all__ = [
    "HeadScores", "attention_patterns", "duplicate_token", "duplicate_token_targets", "head_scores", "induction",
    "induction_targets", "previous_token", "previous_token_targets", "repeated_tokens", "score_from_probs", "uniform_probs",
]
