"""How fast this machine multiplies, measured once and kept: what `mechtests plan` turns FLOPs
into seconds with.

A matmul timed for a fraction of a second each time `plan` runs moves with whatever else the
machine is doing: on a shared 2-core box the same plan read 47.8 and then 36.2 minutes two calls
apart (issue #26). So the throughput is measured once per machine, torch version, device, dtype,
thread count and matrix shape (the model's width and MLP width), over REPEATS timed windows of
WINDOW_S seconds whose median is kept (the machine's usual speed, neither its best idle moment
nor one busy one), and kept in the cache folder as `throughput.json`. `mechtests plan
--measure` measures again and replaces the kept figure; a damaged file is measured over.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mechtests.run import cache

FILE = "throughput.json"
REPEATS = 7
WINDOW_S = 0.5
ROWS = 256  # rows of the timed matmul: a pass's batch on the CPU (mechtests.run.batching.MAX_ROWS)


@dataclass(frozen=True)
class Throughput:
    """A kept measurement: FLOP/s of (ROWS x d_model) @ (d_model x d_mlp) matmuls, when and where."""

    flops_per_s: float
    measured_at: str  # UTC, ISO 8601
    key: str
    fresh: bool  # measured by this call (not read from the file)


def machine() -> str:
    """This machine: host name and processor (the CPU model from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{platform.node()} / {cpu} / {os.cpu_count()} cores"


def key_for(d_model: int, d_mlp: int, device: torch.device, dtype: str, threads: int) -> str:
    """What the figure depends on, as one readable key."""
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    return f"{where} | torch {torch.__version__} | {device.type} {dtype} | {threads} thread(s) | {d_model}x{d_mlp}"


def measure(d_model: int, d_mlp: int, device: torch.device, dtype: str) -> float:
    """FLOP/s of (ROWS x d_model) @ (d_model x d_mlp) matmuls: the median of REPEATS windows."""
    a = torch.randn(ROWS, d_model, device=device, dtype=getattr(torch, dtype))
    b = torch.randn(d_model, d_mlp, device=device, dtype=getattr(torch, dtype))
    (a @ b).sum().item()  # warm-up
    rates = []
    for _ in range(REPEATS):
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < WINDOW_S:
            (a @ b).sum().item()
            runs += 1
        rates.append(2 * ROWS * d_model * d_mlp * runs / (time.perf_counter() - start))
    return statistics.median(rates)


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def throughput(d_model: int, d_mlp: int, device: torch.device, dtype: str, remeasure: bool = False,
               folder: Path | None = None) -> Throughput:
    """The kept figure for this machine and shape, measured (and kept) when there is none or
    `remeasure`; a folder that cannot be written keeps nothing, and the figure is still returned."""
    path = (folder or cache.cache_dir()) / FILE
    key = key_for(d_model, d_mlp, device, dtype, torch.get_num_threads())
    kept = _read(path)
    entry = kept.get(key)
    if not remeasure and isinstance(entry, dict) and isinstance(entry.get("flops_per_s"), (int, float)):
        return Throughput(float(entry["flops_per_s"]), str(entry.get("measured_at", "?")), key, fresh=False)
    figure = Throughput(measure(d_model, d_mlp, device, dtype), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), key, fresh=True)
    kept[key] = {k: v for k, v in asdict(figure).items() if k in ("flops_per_s", "measured_at")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(kept, indent=2, sort_keys=True))
    except OSError:
        pass  # an unwritable cache folder: the figure is used this once, as the measurement cache does
    return figure


__all__ = ["Throughput", "key_for", "machine", "measure", "throughput"]
