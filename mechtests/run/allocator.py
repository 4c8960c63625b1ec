"""Keep freed CPU memory for reuse instead of handing it back to the OS after every batch.

glibc's malloc serves every block over 32 MiB with a fresh mmap and unmaps it on free, so each
batch's large tensors (a 135M model's logits over a 49k vocabulary are 38 MiB for 8 prompts of
24 tokens) are page-faulted and zeroed anew by the kernel. On the SmolLM2 suite that was 35% of
the CPU time (BENCHMARKS.md: 4346 s system time, 2.2 billion minor page faults, of 12238 s).
`keep_freed_memory` turns mmap off for malloc (M_MMAP_MAX = 0), so large blocks come from the
heap, and keeps up to `trim_bytes` of free heap top (M_TRIM_THRESHOLD) instead of returning it;
a process's peak resident memory is still what it held at once, plus fragmentation.

Only on glibc (Linux); elsewhere, or with MECHTESTS_SYSTEM_MALLOC=1, it changes nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from mechtests.run.batching import CPU_CAP

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
TRIM_BYTES = CPU_CAP  # free heap top kept per process: what one batch may take
OPT_OUT = "MECHTESTS_SYSTEM_MALLOC"


def keep_freed_memory(trim_bytes: int = TRIM_BYTES) -> bool:
    """Make glibc's malloc reuse freed large blocks in this process; True when it took effect."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return False
    name = ctypes.util.find_library("c")
    if not name or "libc.so" not in name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, int(trim_bytes)))
