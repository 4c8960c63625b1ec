"""Batch sizes from a memory budget, and batches that halve when memory runs out anyway.

Why a budget and not a fixed row count: on CPU, running out of memory usually means the kernel
kills the process (no exception to catch), so choosing the batch from what the device has is
the real defence; on a GPU an out-of-memory error is raised, and `in_batches` halves the batch
and retries, saying so with a BatchWarning. A batch size never changes a result: every batched
measurement computes each example's values independently of the others in its pass.

The budget (`--mech-max-memory`, parsed by `parse_max_memory`):
- `auto` (the default): half of the memory available on the CPU (MemAvailable), shared among
  the xdist workers and at most CPU_CAP per process; 80% of the free memory on a GPU (each
  worker has its own);
- an amount: `8GiB`, `512MB`, `2G` (binary units for G/M/K, as GiB/MiB/KiB);
- a share: `30%` of what the device has available.

Rows per pass = budget // bytes per row (at most MAX_ROWS), where bytes per row is estimated
from the model's shape (`row_bytes`: the activations one row keeps alive in the pass; the
weights are already resident and not counted).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import torch

from mechtests.run import progress
from mechtests.errors import MechtestsError
from mechtests.models.shape import ConfigShape

if TYPE_CHECKING:
    from mechtests.models.subject import Subject

T = TypeVar("T")
MAX_MEMORY_ENV = "MECHTESTS_MAX_MEMORY"  # how a session's budget reaches xdist workers and tools
CPU_SHARE = 0.5  # of MemAvailable: the rest is for the OS, other processes and allocator slack
# `auto`'s ceiling per process on a CPU, where passes past a few dozen rows gain no throughput: the
# SmolLM2 suite's plan is 2% longer at 2 GiB than at 11.4 GiB and its peak 2.7 GB instead of 11.9
# (BENCHMARKS.md), which keeps a process within 4 GB with both models loaded.
CPU_CAP = 2 * 2**30
GPU_SHARE = 0.8  # of the free device memory: the rest is for the CUDA context and fragmentation
UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
         "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}
# A pass never gets more rows than this, whatever the budget: on a CPU, passes beyond a few hundred
# rows gain no throughput and only hold memory; a GPU needs large passes to be busy.
MAX_ROWS = {"cpu": 256, "cuda": 4096}


class BatchWarning(UserWarning):
    """A batch ran out of memory and was halved."""


@dataclass(frozen=True)
class MemoryLimit:
    """A memory budget: an amount in bytes, or a share of what the device has available."""

    amount: int | None = None
    share: float | None = None

    def bytes_for(self, device: torch.device | str) -> int:
        """The budget in bytes on `device` (a share is taken of its available memory now)."""
        device = torch.device(device)
        if self.amount is not None:
            return self.amount
        if device.type == "cuda":  # each xdist worker has a GPU of its own (mechtests.models.placement)
            return int((self.share or GPU_SHARE) * available_bytes(device))
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)  # the CPU's memory is shared among them
        shared = int((self.share or CPU_SHARE) * available_bytes(device) / max(1, workers))
        return shared if self.share is not None else min(shared, CPU_CAP)

    def __str__(self) -> str:
        if self.amount is not None:
            return f"{self.amount / 2**30:.2f} GiB"
        return "auto" if self.share is None else f"{100 * self.share:g}%"


def parse_max_memory(text: str) -> MemoryLimit:
    """Parse `--mech-max-memory`: `auto`, an amount (`8GiB`, `512MB`) or a share (`30%`)."""
    value = str(text).strip().lower()
    if value == "auto":
        return MemoryLimit()
    fix = "pass auto, an amount such as 8GiB or 512MB, or a share such as 30% (--mech-max-memory)"
    share = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", value)
    if share:
        fraction = float(share.group(1)) / 100
        if not 0 < fraction <= 1:
            raise MechtestsError(f"memory share {text!r} is not between 0% and 100%", fix)
        return MemoryLimit(share=fraction)
    amount = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    if not amount or amount.group(2) not in UNITS:
        raise MechtestsError(f"cannot read the memory budget {text!r}", fix)
    size = int(float(amount.group(1)) * UNITS[amount.group(2)])
    if size < 2**20:
        raise MechtestsError(f"memory budget {text!r} is under 1 MiB", fix)
    return MemoryLimit(amount=size)


def current_limit() -> MemoryLimit:
    """The session's budget: `$MECHTESTS_MAX_MEMORY` when set (the plugin sets it), else auto."""
    return parse_max_memory(os.environ.get(MAX_MEMORY_ENV, "auto"))


def available_bytes(device: torch.device | str) -> int:
    """Memory this process could still use on `device`: free GPU memory, or MemAvailable on CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)  # no MemAvailable: assume half is free


@dataclass(frozen=True)
class ModelShape:
    """What a pass's memory depends on: the model's shape and the bytes of one of its numbers."""

    n_layers: int
    n_heads: int
    d_model: int
    d_mlp: int
    vocab: int
    element_bytes: int

    @classmethod
    def of(cls, subject: "Subject") -> "ModelShape":
        """From a loaded model: its sizes as the Subject reads them, whatever its family calls them."""
        return cls(n_layers=subject.n_layers, n_heads=subject.n_heads, d_model=subject.d_model, d_mlp=subject.d_mlp,
                   vocab=subject.vocab_size, element_bytes=next(subject.model.parameters()).element_size())

    @classmethod
    def from_config(cls, config: object, element_bytes: int, n_layers: int | None = None, vocab: int | None = None) -> "ModelShape":
        """From a transformers config, whatever its family calls the sizes (mechtests.models.shape)."""
        sizes = ConfigShape.of(config)
        return cls(
            n_layers=n_layers or sizes.need("n_layers"), n_heads=sizes.need("n_heads"), d_model=sizes.need("d_model"),
            d_mlp=sizes.need("d_mlp"), vocab=vocab or sizes.need("vocab"), element_bytes=element_bytes,
        )


def row_bytes(shape: "ModelShape | Subject", seq_len: int, grad: bool = False, per_head_inputs: bool = False, patterns: bool = False) -> int:
    """Bytes one row (one sequence of `seq_len` tokens) keeps alive during a pass, from the model's shape.

    Forward without grad: the largest transient of a layer (attention scores H*T*T twice, the MLP's
    hidden d_mlp three times, the residual d a few times) plus the logits (V per position, twice
    for the softmax/log-softmax the metric takes). With grad, every layer's saved activations are
    kept until the backward pass (the same terms per layer, all layers). With per_head_inputs (the
    EAP-IG engine), each layer also holds each head's normalised input copy and its gradient
    (3 * H * d per position) and the gradients at every downstream input ((L * (H + 1) + 1) * d).
    With patterns (the head detectors), every layer's attention probabilities are kept, and a
    float32 copy of them (L * H * T per position, twice).
    """
    s = shape if isinstance(shape, ModelShape) else ModelShape.of(shape)
    L, H, d, T = s.n_layers, s.n_heads, s.d_model, seq_len
    layer = 2 * H * T + 3 * s.d_mlp + 6 * d  # per position
    per_position = (L if grad else 1) * layer + 2 * s.vocab
    if per_head_inputs:
        per_position += L * 3 * H * d + (L * (H + 1) + 1) * d
    if patterns:
        per_position += 2 * L * H * T
    return int(s.element_bytes * T * per_position)


def rows_for(subject: "Subject", seq_len: int, limit: MemoryLimit | None = None, **kind: bool) -> int:
    """Rows per pass that fit the budget (at least 1, at most MAX_ROWS); `kind` as for row_bytes."""
    budget = (limit or current_limit()).bytes_for(subject.device)
    return rows_within(budget, row_bytes(subject, seq_len, **kind), subject.device)


def rows_within(budget: int, per_row: int, device: torch.device | str) -> int:
    """Rows of `per_row` bytes that fit `budget` bytes (at least 1, at most MAX_ROWS on that device)."""
    cap = MAX_ROWS.get(torch.device(device).type, MAX_ROWS["cuda"])
    return max(1, min(cap, budget // max(1, per_row)))


def is_out_of_memory(err: BaseException) -> bool:
    """A CUDA or CPU allocator failure (torch raises RuntimeError subclasses for both)."""
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def in_batches(fn: Callable[[int, int, int], T], n: int, rows: int, what: str, unit: str = "items") -> list[T]:
    """[fn(start, stop, rows) for consecutive chunks of range(n)], each chunk at most `rows` long.

    `rows` is the pass's row budget (fn may spend it on more than the chunk's items, as EAP-IG
    spends it on interpolation steps). When fn runs out of memory, the budget is halved and the
    same chunk retried, with a BatchWarning; at one row, the error is a MechtestsError.
    Progress (mechtests.run.progress): `what: unit` done/n, before the first chunk and after each,
    when the work takes more than one pass (one pass is not a loop worth a line: an intervened
    pass inside a sweep leaves the sweep's count alone).
    """
    out: list[T] = []
    start = 0
    counted = n > rows
    if counted:
        progress.step(f"{what}: {unit}", 0, n)
    while start < n:
        stop = min(n, start + rows)
        try:
            out.append(fn(start, stop, rows))
        except Exception as err:  # noqa: BLE001 - only out-of-memory errors are handled; others re-raise
            if not is_out_of_memory(err):
                raise
            if rows == 1:
                raise MechtestsError(
                    f"{what}: out of memory with a single row per pass",
                    "free memory on the device, use a device with more memory (--mech-device), or shorten the examples",
                ) from err
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            rows = max(1, rows // 2)
            warnings.warn(BatchWarning(f"{what}: out of memory at {stop - start} rows per pass; halved the batch to {rows} rows"), stacklevel=2)
            continue
        start = stop
        if counted:
            progress.step(f"{what}: {unit}", stop, n)
    return out


__all__ = [
    "BatchWarning", "MAX_MEMORY_ENV", "MemoryLimit", "ModelShape", "available_bytes", "current_limit", "in_batches",
    "is_out_of_memory", "parse_max_memory", "row_bytes", "rows_for", "rows_within",
]
