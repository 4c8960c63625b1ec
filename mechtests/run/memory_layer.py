"""The measurement cache's in-memory layer: the entries this process used, most recent last.

Past MEMORY_LAYER_BYTES the least recently used entries that are also on disk are dropped (the
cache reads them again when asked for): a run on a 30-layer model uses dozens of per-example
attributions of about 100 MB each, and keeping them all held a worker at 7 GB (the SmolLM2
suite, BENCHMARKS.md). An entry that is not on disk (an unwritable folder) is never dropped:
that would make it a recomputation.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch

Entry = tuple[dict[str, torch.Tensor], dict[str, Any]]  # (tensors, metadata), as mechtests.run.cache stores them
MEMORY_LAYER_BYTES = 512 * 2**20
_MEMORY: OrderedDict[str, Entry] = OrderedDict()
_ON_DISK: set[str] = set()


def remembered(key: str) -> Entry | None:
    """The entry (now the most recently used), or None."""
    if key not in _MEMORY:
        return None
    _MEMORY.move_to_end(key)
    return _MEMORY[key]


def keep(key: str, entry: Entry, on_disk: bool) -> None:
    """Hold the entry, then drop the least recently used ones on disk until within the budget."""
    _MEMORY[key] = entry
    _MEMORY.move_to_end(key)
    (_ON_DISK.add if on_disk else _ON_DISK.discard)(key)
    held = sum(_bytes(e) for e in _MEMORY.values())
    for old in [k for k in _MEMORY if k in _ON_DISK and k != key]:
        if held <= MEMORY_LAYER_BYTES:
            break
        held -= _bytes(_MEMORY.pop(old))
        _ON_DISK.discard(old)


def holds(key: str) -> bool:
    return key in _MEMORY


def keys() -> list[str]:
    """The keys held, least recently used first."""
    return list(_MEMORY)


def clear() -> None:
    _MEMORY.clear()
    _ON_DISK.clear()


def _bytes(entry: Entry) -> int:
    return sum(t.numel() * t.element_size() for t in entry[0].values())
