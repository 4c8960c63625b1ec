"""Cache, patch and ablate any standard Site at chosen positions, through nnsight.

Positions: None (every position), a list of ints (the same positions in every row), a (B, P)
long tensor (per-row positions), or a (B, T) bool mask. Inputs: Examples (posed by the query
layer, so an MDM is read at its masked answer positions) or an explicit (clean, corrupted)
pair of Posed batches.

Directions for patching: `into='clean'` runs the clean input with the corrupted activation at
the sites (noising: how much does the model need that component?); `into='corrupted'` runs the
corrupted input with the clean activation (denoising: is that component enough?).
Ablations: zero, mean (the mean over the batch at each position, of the same input) and
resample (the activation of another example of the batch, drawn with `seed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import torch

from mechtests.errors import MechtestsError
from mechtests.models.components import Site, read, write
from mechtests.queries import Posed, answer_logits, gather_answer_logits, metric, pose
from mechtests.run import batching

if TYPE_CHECKING:
    from mechtests.models.subject import Subject
    from mechtests.queries import Example

ABLATIONS = ("zero", "mean", "resample")


def as_pair(subject: "Subject", data: "Sequence[Example] | tuple[Posed, Posed]") -> tuple[Posed, Posed]:
    """(clean, corrupted) Posed batches from Examples or from a ready pair."""
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Posed):
        return data  # type: ignore[return-value]
    examples = list(data)  # type: ignore[arg-type]
    return pose(subject, examples), pose(subject, examples, corrupted=True)


def position_mask(positions: "Sequence[int] | torch.Tensor | None", batch: int, length: int) -> torch.Tensor | None:
    """(B, T, 1) bool mask of the positions to intervene on, or None for all positions."""
    if positions is None:
        return None
    if isinstance(positions, torch.Tensor) and positions.dtype == torch.bool:
        if tuple(positions.shape) != (batch, length):
            raise MechtestsError(f"position mask has shape {tuple(positions.shape)}, expected {(batch, length)}", "pass a (B, T) bool mask")
        return positions.unsqueeze(-1)
    pos = torch.as_tensor(positions, dtype=torch.long)
    if pos.ndim == 1:
        pos = pos.expand(batch, -1)
    if pos.ndim != 2 or pos.shape[0] != batch:
        raise MechtestsError(f"positions have shape {tuple(pos.shape)} for a batch of {batch}", "pass a list of ints or a (B, P) tensor")
    if pos.numel() and (pos.min() < -length or pos.max() >= length):
        raise MechtestsError(f"positions {pos.unique().tolist()} lie outside a sequence of length {length}", "pass positions in 0..T-1")
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask.scatter_(1, pos % length, True)
    return mask.unsqueeze(-1)


def _ordered(sites: Sequence[Site]) -> list[Site]:
    sites = list(sites)
    if not sites:
        raise MechtestsError("no sites given", "pass e.g. [Site('head', 0, 1)]")
    return sorted(sites, key=lambda s: s.order)


def _rows(subject: "Subject", posed: Posed, rows: int | None) -> int:
    """Rows per traced pass: `rows`, or as many as the memory budget holds (mechtests.run.batching)."""
    return rows or batching.rows_for(subject, posed.input_ids.shape[1])


def cache(subject: "Subject", posed: Posed, sites: Sequence[Site], rows: int | None = None) -> dict[Site, torch.Tensor]:
    """Activations at `sites`, one traced pass per `rows` rows (None: from the memory budget):
    {site: (B, T, d) or (B, T, d_head)}."""
    ordered = _ordered(sites)

    def chunk(start: int, stop: int, _rows: int) -> dict[Site, torch.Tensor]:
        saved: dict[Site, object] = {}
        part = posed.rows(start, stop)
        with torch.no_grad(), subject.nn.trace(**part.model_inputs(subject)):
            for site in ordered:
                saved[site] = read(subject, site).save()
        return {site: torch.as_tensor(value).detach() for site, value in saved.items()}

    parts = batching.in_batches(chunk, len(posed), _rows(subject, posed, rows), f"caching activations on {subject.kind}", "examples")
    return {site: torch.cat([p[site] for p in parts]) for site in ordered}


def run_with(subject: "Subject", posed: Posed, values: Mapping[Site, torch.Tensor], positions: "Sequence[int] | torch.Tensor | None" = None,
             rows: int | None = None) -> torch.Tensor:
    """Answer logits (B, A, V) of `posed` with each site overwritten by its value at `positions`
    (values (B, ...) per row or (1, ...) for all), one traced pass per `rows` rows (None: from the
    memory budget)."""
    mask = position_mask(positions, len(posed), posed.input_ids.shape[1])
    if mask is not None:
        mask = mask.to(subject.device)
    ordered = _ordered(list(values))

    def chunk(start: int, stop: int, _rows: int) -> torch.Tensor:
        part, out = posed.rows(start, stop), []
        with torch.no_grad(), subject.nn.trace(**part.model_inputs(subject)):
            for site in ordered:
                value = values[site]
                value = value[start:stop] if value.shape[0] == len(posed) else value.expand(len(part), *value.shape[1:])
                if mask is not None:
                    value = torch.where(mask[start:stop], value, read(subject, site))
                write(subject, site, value)
            out.append(read(subject, Site("logits")).save())
        return gather_answer_logits(torch.as_tensor(out[0]), part)

    return torch.cat(batching.in_batches(chunk, len(posed), _rows(subject, posed, rows), f"intervened passes on {subject.kind}", "examples"))


def ablation_values(
    subject: "Subject", posed: Posed, sites: Sequence[Site], method: str, seed: int = 0, reference: Posed | None = None
) -> dict[Site, torch.Tensor]:
    """Replacement activations for an ablation: zero, mean over the reference batch, or resampled rows."""
    if method not in ABLATIONS:
        raise MechtestsError(f"unknown ablation {method!r}", f"use one of {ABLATIONS}")
    acts = cache(subject, reference or posed, sites)
    if method == "zero":
        return {s: torch.zeros_like(a[:1]) for s, a in acts.items()}
    if method == "mean":
        return {s: a.mean(0, keepdim=True) for s, a in acts.items()}
    return {s: a[resample_index(len(posed), len(a), seed)] for s, a in acts.items()}


def resample_index(n: int, pool: int, seed: int) -> torch.Tensor:
    """For each of n rows, another row of the pool (never itself when the pool allows), seeded."""
    gen = torch.Generator().manual_seed(seed)
    if pool < 2:
        return torch.zeros(n, dtype=torch.long)
    shift = torch.randint(1, pool, (n,), generator=gen)
    return (torch.arange(n) + shift) % pool


@dataclass
class Effect:
    """Per-example metrics (B,): intervened, clean and corrupted; `effect` = clean - intervened."""

    intervened: torch.Tensor
    clean: torch.Tensor
    corrupted: torch.Tensor

    @property
    def effect(self) -> torch.Tensor:
        return self.clean - self.intervened

    @property
    def recovered(self) -> float:
        """(m_intervened - m_corrupted) / (m_clean - m_corrupted), means over examples."""
        return float((self.intervened.mean() - self.corrupted.mean()) / (self.clean.mean() - self.corrupted.mean()))


def baseline_metrics(subject: "Subject", clean: Posed, corrupt: Posed) -> tuple[torch.Tensor, torch.Tensor]:
    """(m(clean), m(corrupted)) per example, (B,) each: the unpatched runs an intervention is read against."""
    return metric(answer_logits(subject, clean), clean), metric(answer_logits(subject, corrupt), corrupt)


def patch(
    subject: "Subject",
    data: "Sequence[Example] | tuple[Posed, Posed]",
    sites: Sequence[Site],
    positions: "Sequence[int] | torch.Tensor | None" = None,
    into: str = "clean",
) -> Effect:
    """Activation patching between the clean and corrupted runs at `sites` and `positions`."""
    if into not in ("clean", "corrupted"):
        raise MechtestsError(f"into={into!r}", "patch into 'clean' (noising) or 'corrupted' (denoising)")
    clean, corrupt = as_pair(subject, data)
    target, source = (clean, corrupt) if into == "clean" else (corrupt, clean)
    values = cache(subject, source, sites)
    logits = run_with(subject, target, values, positions)
    m_clean, m_corrupt = baseline_metrics(subject, clean, corrupt)
    return Effect(metric(logits, target), m_clean, m_corrupt)


def ablate(
    subject: "Subject",
    data: "Sequence[Example] | tuple[Posed, Posed]",
    sites: Sequence[Site],
    method: str = "zero",
    positions: "Sequence[int] | torch.Tensor | None" = None,
    seed: int = 0,
) -> Effect:
    """Ablate `sites` (zero / mean / resample over the clean batch) on the clean input."""
    clean, corrupt = as_pair(subject, data)
    values = ablation_values(subject, clean, sites, method, seed)
    logits = run_with(subject, clean, values, positions)
    m_clean, m_corrupt = baseline_metrics(subject, clean, corrupt)
    return Effect(metric(logits, clean), m_clean, m_corrupt)
