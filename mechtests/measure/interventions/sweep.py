"""Sweeps over attention heads (all, or a chosen subset), with no repeated work.

head_sweep: the batch is replicated once per head in a chunk (rows = heads_per_pass * B); in the
trace each row block overwrites its own head's slice of the output-projection input. The chunk
size comes from the memory budget (mechtests.run.batching), or from `rows_per_pass`; an
out-of-memory error halves it. The clean and corrupted baselines and every head's replacement
value are computed once, not once per head: a sweep of n heads costs ceil(n / heads_per_pass) passes
plus two or three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.errors import MechtestsError
from mechtests.measure.interventions.core import ABLATIONS, as_pair, baseline_metrics, position_mask, resample_index
from mechtests.queries import Posed, answer_metric
from mechtests.run import batching

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example


@dataclass
class SweepResult:
    """effects: (L, H) mean of m(clean) - m(intervened), NaN for heads not swept; per_example: (B, L, H); clean, corrupted: (B,)."""

    effects: torch.Tensor
    per_example: torch.Tensor
    clean: torch.Tensor
    corrupted: torch.Tensor
    heads: list[tuple[int, int]] = field(default_factory=list)  # the (layer, head)s swept; the others are NaN


def head_inputs(subject: "Subject", posed: Posed) -> list[torch.Tensor]:
    """Every layer's output-projection input (B, T, H * d_head): all heads' outputs, one pass."""
    saved: list = []
    with torch.no_grad(), subject.nn.trace(**posed.model_inputs(subject)):
        for layer in range(subject.n_layers):
            saved.append(subject.out_proj_envoy(layer).input.save())
    return [torch.as_tensor(s).detach() for s in saved]


def _sources(subject: "Subject", clean: Posed, corrupt: Posed, method: str, seed: int) -> list[torch.Tensor]:
    if method == "patch":
        return head_inputs(subject, corrupt)
    acts = head_inputs(subject, clean)
    if method == "zero":
        return [torch.zeros_like(a[:1]) for a in acts]
    if method == "mean":
        return [a.mean(0, keepdim=True) for a in acts]
    index = resample_index(len(clean), len(clean), seed)
    return [a[index] for a in acts]


def sweep_pass(
    subject: "Subject", posed: Posed, heads: Sequence[tuple[int, int]], sources: list[torch.Tensor], mask: torch.Tensor | None
) -> torch.Tensor:
    """One traced pass over len(heads) row blocks; block i has head heads[i] replaced. Returns metric (n * B,)."""
    B, n = len(posed), len(heads)
    rows = posed.repeat(n)
    out: list = []
    with torch.no_grad(), subject.nn.trace(**rows.model_inputs(subject)):
        for layer in sorted({l for l, _ in heads}):
            z = subject.out_proj_envoy(layer).input  # (n * B, T, H * d_head)
            for i, (l, h) in enumerate(heads):
                if l != layer:
                    continue
                cols, block = subject.head_slice(h), slice(i * B, (i + 1) * B)
                value = sources[layer][..., cols].expand(B, -1, -1)
                if mask is not None:
                    value = torch.where(mask, value, z[block, :, cols])
                z[block, :, cols] = value
        out.append(subject.unembed_envoy().output.save())
    logits = out[0][0] if isinstance(out[0], tuple) else out[0]
    return answer_metric(torch.as_tensor(logits), rows)


def _chosen_heads(subject: "Subject", layers: Sequence[int] | None, heads: Sequence[tuple[int, int]] | None) -> list[tuple[int, int]]:
    L, H = subject.n_layers, subject.n_heads
    chosen = [(l, h) for l in range(L) for h in range(H)] if heads is None else sorted({(int(l), int(h)) for l, h in heads})
    if layers is not None:
        chosen = [(l, h) for l, h in chosen if l in set(layers)]
    bad = [(l, h) for l, h in chosen if not (0 <= l < L and 0 <= h < H)]
    if bad or not chosen:
        raise MechtestsError(f"no such heads to sweep: {bad or 'none left'} (the model has {L} layers of {H} heads)",
                             "pass layers= and heads= within the model's shape")
    return chosen


def head_sweep(
    subject: "Subject",
    data: "Sequence[Example] | tuple[Posed, Posed]",
    method: str = "patch",
    positions: "Sequence[int] | torch.Tensor | None" = None,
    rows_per_pass: int | None = None,
    seed: int = 0,
    layers: Sequence[int] | None = None,
    heads: Sequence[tuple[int, int]] | None = None,
) -> SweepResult:
    """Intervene on each head in turn (patch: corrupted activation into the clean run; or an ablation).

    layers, heads: sweep only these (heads as (layer, head) pairs); the others come back NaN.
    rows_per_pass: rows per traced pass; None picks it from the memory budget.
    """
    if method not in ("patch", *ABLATIONS):
        raise MechtestsError(f"unknown sweep method {method!r}", f"use 'patch' or one of {ABLATIONS}")
    clean, corrupt = as_pair(subject, data)
    B, T, L, H = len(clean), clean.input_ids.shape[1], subject.n_layers, subject.n_heads
    chosen = _chosen_heads(subject, layers, heads)
    sources = _sources(subject, clean, corrupt, method, seed)
    mask = position_mask(positions, B, T)
    mask = None if mask is None else mask.to(subject.device)
    rows = rows_per_pass if rows_per_pass is not None else batching.rows_for(subject, T)
    m_clean, m_corrupt = baseline_metrics(subject, clean, corrupt)
    run = lambda start, stop, _rows: sweep_pass(subject, clean, chosen[start:stop], sources, mask)  # noqa: E731
    chunks = batching.in_batches(run, len(chosen), max(1, rows // B), f"head sweep on {subject.kind}", "heads")
    intervened = torch.cat(chunks).view(len(chosen), B).T  # (B, n_chosen)
    per_example = torch.full((B, L, H), float("nan"), dtype=intervened.dtype, device=intervened.device)
    index = torch.tensor(chosen, device=intervened.device)
    per_example[:, index[:, 0], index[:, 1]] = m_clean[:, None] - intervened
    return SweepResult(per_example.mean(0), per_example, m_clean, m_corrupt, chosen)

