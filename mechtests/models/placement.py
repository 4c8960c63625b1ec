"""Where a model runs and in what precision: device, dtype, GPU per xdist worker, spreading, threads.

- Device (`--mech-device`): `cpu`, `cuda` (the first GPU), `cuda:N`, `mps` (Apple GPUs), or
  `auto` (a CUDA GPU when one is visible, else the CPU). Asking for a GPU that is not there is
  a one-line error.
- Dtype (`--mech-dtype`): `auto` is bfloat16 on a GPU that supports it (float16 on one that does
  not) and float32 on the CPU and on mps; `float32`, `bfloat16`, `float16` (or fp32, bf16, fp16) force one.
  Attribution accumulates its gradients and edge scores in float32 whatever the model's dtype
  (mechtests.measure.attribution.gradsum.ACCUMULATE), so bf16 models give fp32 sums.
- Under xdist, worker gwK is pinned to its own GPU (K modulo the GPUs visible); a worker whose
  tests need both models of a pair gets two GPUs, one per model, when there are enough.
- A model larger than a GPU's share of memory is spread over the worker's GPUs with
  transformers' `device_map="auto"` (accelerate), bounded by `max_memory` per GPU.
- Torch threads: by default, the cores free to this process (its CPU affinity minus the 1-minute
  load average, at least 1), divided among the xdist workers. On a shared 2-core machine this
  is 1 thread (2 threads per process there ran 3-10x slower, issue #14), on an idle one 2 for
  `-n 0` and 1 per worker for `-n 2`. OMP_NUM_THREADS, when set, wins.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from mechtests.errors import MechtestsError

DTYPES = ("float32", "bfloat16", "float16")
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}
SPREAD_SHARE = 0.9  # a model whose weights take more than this share of a GPU's free memory is spread


def parse_device(text: str) -> str:
    """Parse `--mech-device`: auto, cpu, cuda, cuda:N or mps (normalised to lower case)."""
    value = str(text).strip().lower()
    if value in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", value):
        return value
    raise MechtestsError(f"unknown device {text!r}", "pass --mech-device auto, cpu, cuda or cuda:N (N a GPU index), or mps")


def parse_dtype(text: str) -> str:
    """Parse `--mech-dtype`: auto, float32, bfloat16 or float16 (fp32, bf16, fp16 accepted)."""
    value = str(text).strip().lower()
    value = DTYPE_ALIASES.get(value, value)
    if value == "auto" or value in DTYPES:
        return value
    raise MechtestsError(f"unknown dtype {text!r}", f"pass --mech-dtype auto or one of {', '.join(DTYPES)}")


def resolve_device(choice: str, gpus: int | None = None) -> torch.device:
    """The device for a parsed choice, given how many GPUs are visible (default: ask torch)."""
    gpus = torch.cuda.device_count() if gpus is None else gpus
    choice = parse_device(choice)
    if choice == "auto":
        return torch.device("cuda", 0) if gpus else torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "mps":
        if not torch.backends.mps.is_available():
            raise MechtestsError("mps is not available on this machine", "pass --mech-device cpu or auto")
        return torch.device("mps")
    index = int(choice.split(":")[1]) if ":" in choice else 0
    if index >= gpus:
        seen = "no CUDA GPU is visible" if not gpus else f"only {gpus} GPU(s) are visible (cuda:0..cuda:{gpus - 1})"
        raise MechtestsError(f"{choice} is not available: {seen}", "pass --mech-device cpu or auto, or check CUDA_VISIBLE_DEVICES")
    return torch.device("cuda", index)


def resolve_dtype(choice: str, device: torch.device | str, bf16_supported: bool | None = None) -> str:
    """The dtype name (as ModelSpec.dtype takes it) for a parsed choice on `device`."""
    choice = parse_dtype(choice)
    if choice != "auto":
        return choice
    device = torch.device(device)
    if device.type != "cuda":
        return "float32"
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return "bfloat16" if bf16_supported else "float16"


def worker_index(worker: str | None) -> int | None:
    """xdist's worker id `gwK` -> K; None outside xdist (the controller, or `-n 0`)."""
    if not worker:
        return None
    match = re.fullmatch(r"gw(\d+)", worker)
    return int(match.group(1)) if match else None


def worker_devices(worker: str | None, gpus: int, models: int = 1) -> list[torch.device]:
    """One device per model for this process: GPUs dealt round-robin, `models` per worker.

    Worker K gets GPUs K*models .. K*models + models - 1 (modulo the GPUs visible), so two
    workers never share a GPU while there are enough; with no GPU, every model is on the CPU.
    """
    if gpus <= 0:
        return [torch.device("cpu")] * models
    first = (worker_index(worker) or 0) * models
    return [torch.device("cuda", (first + i) % gpus) for i in range(models)]


def device_for(choice: str, worker: str | None = None, models: int = 1, model: int = 0, gpus: int | None = None) -> torch.device:
    """The device of model number `model` (of `models` this process loads) for a device choice:
    `auto` and `cuda` deal this xdist worker its own GPUs (worker_devices); `cuda:N` is that GPU."""
    gpus = torch.cuda.device_count() if gpus is None else gpus
    if parse_device(choice) in ("auto", "cuda") and gpus:
        return worker_devices(worker, gpus, models)[model]
    return resolve_device(choice, gpus)


@dataclass(frozen=True)
class Placement:
    """How to load one model: where, in what dtype, and how to spread it when it does not fit."""

    device: torch.device
    dtype: str
    device_map: Mapping[str, Any] | None = None  # extra from_pretrained kwargs (device_map, max_memory)

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for transformers' from_pretrained beyond the dtype."""
        return dict(self.device_map) if self.device_map else {}


def spread(weights_bytes: int, devices: list[torch.device], free: Mapping[int, int]) -> Mapping[str, Any] | None:
    """None when the weights fit the first device's share of its free memory; else device_map
    kwargs that spread the model over every GPU visible to this worker (`free`: index -> bytes)."""
    first = devices[0]
    if first.type != "cuda" or weights_bytes <= SPREAD_SHARE * free.get(first.index or 0, 0):
        return None
    budget = {index: int(SPREAD_SHARE * size) for index, size in sorted(free.items())}
    if weights_bytes > sum(budget.values()):
        raise MechtestsError(
            f"the model's weights ({weights_bytes / 2**30:.1f} GiB) exceed the free memory of every visible GPU "
            f"({sum(budget.values()) / 2**30:.1f} GiB usable)",
            "use --mech-dtype bfloat16, more GPUs (CUDA_VISIBLE_DEVICES), or --mech-device cpu",
        )
    return {"device_map": "auto", "max_memory": budget}


def place(device: str, dtype: str, n_params: int, worker: str | None = None, models: int = 1, model: int = 0) -> Placement:
    """The placement of model number `model` (0 or 1 of a pair, `n_params` parameters) in this process."""
    target = device_for(device, worker, models, model)
    name = resolve_dtype(dtype, target)
    gpus = torch.cuda.device_count()
    free = {i: torch.cuda.mem_get_info(i)[0] for i in range(gpus)} if target.type == "cuda" else {}
    weights_bytes = n_params * torch.finfo(getattr(torch, name)).bits // 8
    return Placement(target, name, spread(weights_bytes, [target], free))


def default_threads(environ: Mapping[str, str] | None = None, cores: int | None = None, load: float | None = None) -> int:
    """Torch threads for this process: OMP_NUM_THREADS when set, else the free cores (CPU affinity
    minus the 1-minute load average, at least 1) shared among PYTEST_XDIST_WORKER_COUNT workers."""
    environ = os.environ if environ is None else environ
    if environ.get("OMP_NUM_THREADS", "").isdigit() and int(environ["OMP_NUM_THREADS"]) > 0:
        return int(environ["OMP_NUM_THREADS"])
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    free = max(1, cores - int(round(load)))
    return max(1, free // max(1, workers))


def apply_threads() -> int:
    """Set torch's intra-op threads to `default_threads()` (once per process, at session start)."""
    threads = default_threads()
    torch.set_num_threads(threads)
    return threads


__all__ = [
    "DTYPES", "Placement", "apply_threads", "default_threads", "device_for", "parse_device", "parse_dtype", "place", "resolve_device",
    "resolve_dtype", "spread", "worker_devices", "worker_index",
]
