"""Sweeps over every attention head, batched: one traced pass serves many patched rows.

The batch is replicated once per head in a chunk (rows = heads_per_pass * B); in the trace each
row block overwrites its own head's slice of the output-projection input. The chunk size is
set by `rows_per_pass`, which bounds memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from mechtests.attribution.eap import repeat_posed
from mechtests.errors import MechtestsError
from mechtests.interventions.core import ABLATIONS, _metrics, as_pair, position_mask, resample_index
from mechtests.models.components import Site
from mechtests.queries import Posed, gather_answer_logits, metric

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example


@dataclass
class SweepResult:
    """effects: (L, H) mean of m(clean) - m(intervened); per_example: (B, L, H); clean, corrupted: (B,)."""

    effects: torch.Tensor
    per_example: torch.Tensor
    clean: torch.Tensor
    corrupted: torch.Tensor


def head_inputs(subject: "Subject", posed: Posed) -> list[torch.Tensor]:
    """Every layer's output-projection input (B, T, H * d_head): all heads' outputs, one pass."""
    saved: list = []
    with torch.no_grad(), subject.nn.trace(**posed.model_inputs()):
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
    rows = repeat_posed(posed, n)
    out: list = []
    with torch.no_grad(), subject.nn.trace(**rows.model_inputs()):
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
    return metric(gather_answer_logits(torch.as_tensor(logits), rows), rows)


def head_sweep(
    subject: "Subject",
    data: "Sequence[Example] | tuple[Posed, Posed]",
    method: str = "patch",
    positions: "Sequence[int] | torch.Tensor | None" = None,
    rows_per_pass: int = 512,
    seed: int = 0,
) -> SweepResult:
    """Intervene on each head in turn (patch: corrupted activation into the clean run; or an ablation)."""
    if method not in ("patch", *ABLATIONS):
        raise MechtestsError(f"unknown sweep method {method!r}", f"use 'patch' or one of {ABLATIONS}")
    clean, corrupt = as_pair(subject, data)
    B, L, H = len(clean), subject.n_layers, subject.n_heads
    sources = _sources(subject, clean, corrupt, method, seed)
    mask = position_mask(positions, B, clean.input_ids.shape[1])
    mask = None if mask is None else mask.to(subject.device)
    heads = [(l, h) for l in range(L) for h in range(H)]
    per_pass = max(1, rows_per_pass // B)
    m_clean, m_corrupt = _metrics(subject, clean, corrupt)
    chunks = [sweep_pass(subject, clean, heads[i : i + per_pass], sources, mask) for i in range(0, len(heads), per_pass)]
    intervened = torch.cat(chunks).view(len(heads), B).T.reshape(B, L, H)  # (B, L, H)
    per_example = m_clean[:, None, None] - intervened
    return SweepResult(per_example.mean(0), per_example, m_clean, m_corrupt)


def site_sweep(
    subject: "Subject", data: "Sequence[Example] | tuple[Posed, Posed]", sites: Sequence[Site], method: str = "patch", positions=None, seed: int = 0
) -> dict[Site, torch.Tensor]:
    """Per-example effect (B,) of intervening on each site alone (one pass per site; any Site kind)."""
    from mechtests.interventions.core import ablate, patch

    if method == "patch":
        return {s: patch(subject, data, [s], positions).effect for s in sites}
    return {s: ablate(subject, data, [s], method, positions, seed).effect for s in sites}
