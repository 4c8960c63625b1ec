"""mechtests.run.allocator: freed large blocks are reused instead of page-faulted anew."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mechtests.run import allocator

FAULTS = """
import resource, sys, torch
from mechtests.run import allocator
took = allocator.keep_freed_memory()
torch.ones(16 * 2**20)  # 64 MiB, freed: the first allocation faults its pages in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.ones(16 * 2**20)
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")


def _faults(**env: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", FAULTS], env={**os.environ, **env}, capture_output=True, text=True, check=True)
    took, faults = out.stdout.split()
    return took, int(faults)


@glibc_only
def test_freed_blocks_are_reused_without_page_faults():
    took, kept = _faults()
    _, returned = _faults(**{allocator.OPT_OUT: "1"})
    pages = 10 * 64 * 2**20 // 4096
    assert took == "True"
    assert returned > pages // 2  # glibc alone maps and faults every 64 MiB block in again
    assert kept * 4 < returned  # reused; at most some blocks faulted again (an aligned block a few bytes larger than the freed one)


@glibc_only
def test_the_opt_out_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv(allocator.OPT_OUT, "1")
    assert allocator.keep_freed_memory() is False
