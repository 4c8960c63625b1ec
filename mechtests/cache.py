"""A disk cache (plus an in-memory layer) for expensive measurements: attribution and circuit scores.

Keys hash everything that produced a result: the model's weights sha256, the task name, a hash
of the examples' tokens, the method and its parameters, and the mechtests version. A new
checkpoint has a new sha256 and so can never be served a stale result; nor can a new release,
whose measurement code may differ (within a version, a method whose result changes carries its
own version among its parameters, as targeted ablation's CONTROL_DRAW does). Entries are a
safetensors file (tensors) and a JSON file (plain metadata), never pickle; both are written to
a temporary file and renamed into place, so a reader never sees half a file. A worker computing
an entry holds a lock on it, so concurrent xdist workers needing it compute it once.

    key = cache_key(subject, "induction", examples, "eap-ig", {"steps": 32})
    scores = cached(key, lambda: {"scores": compute()})["scores"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from safetensors.torch import load_file, save_file

from mechtests.errors import MechtestsError

CACHE_DIR_ENV = "MECHTESTS_CACHE_DIR"
DEFAULT_DIR = ".mechtests-cache"
_MEMORY: dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]] = {}


def cache_dir() -> Path:
    """`$MECHTESTS_CACHE_DIR`, else `.mechtests-cache/` in the working directory (gitignored)."""
    return Path(os.environ.get(CACHE_DIR_ENV, DEFAULT_DIR))


def examples_hash(examples: Sequence[Any]) -> str:
    """sha256 over the examples' fields (tokens, corrupted, positions, answers), in order."""
    digest = hashlib.sha256()
    for ex in examples:
        if dataclasses.is_dataclass(ex) and not isinstance(ex, type):
            # A dataclass of ints, tuples and nested dataclasses has a stable repr (fields in
            # declaration order): hashing it is ~50x faster than building JSON, and suites hash
            # thousands of examples for every cache lookup.
            digest.update(repr(ex).encode())
            continue
        fields = getattr(ex, "__dict__", None) or {"value": ex}
        digest.update(json.dumps(_plain(fields), sort_keys=True).encode())
    return digest.hexdigest()


def cache_key(subject: Any, task: str, examples: Sequence[Any], method: str, params: Mapping[str, Any] | None = None) -> str:
    """One hex key for (weights sha256, kind, task, examples, method, params, mechtests version)."""
    from mechtests import __version__

    sha = getattr(subject, "weights_sha256", subject)
    kind = getattr(subject, "kind", "")
    payload = {
        "weights_sha256": str(sha), "kind": kind, "task": task, "examples": examples_hash(examples),
        "method": method, "params": _plain(dict(params or {})), "mechtests": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "__dict__"):
        return _plain(vars(value))
    return repr(value)


def load(key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The stored (tensors, metadata) for `key`, or None."""
    if key in _MEMORY:
        return _MEMORY[key]
    folder = cache_dir()
    tensors_path, meta_path = folder / f"{key}.safetensors", folder / f"{key}.json"
    if not (tensors_path.is_file() and meta_path.is_file()):
        return None
    try:
        entry = (load_file(str(tensors_path)), json.loads(meta_path.read_text()))
    except (OSError, ValueError):
        return None  # a damaged entry is recomputed, never trusted
    _MEMORY[key] = entry
    return entry


def store(key: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None = None) -> None:
    """Write an entry atomically (metadata last, so its presence means the tensors are complete)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = _plain(dict(meta or {}))
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _atomic(folder / f"{key}.safetensors", lambda p: save_file(tensors, str(p)))
    _atomic(folder / f"{key}.json", lambda p: Path(p).write_text(json.dumps(meta, sort_keys=True)))
    _MEMORY[key] = (tensors, meta)


def _atomic(target: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached(
    key: str, compute: Callable[[], Mapping[str, torch.Tensor]], meta: Mapping[str, Any] | None = None, enabled: bool = True
) -> dict[str, torch.Tensor]:
    """The tensors stored under `key`, computing and storing them on a miss."""
    if not enabled:
        return dict(compute())
    hit = load(key)
    if hit is not None:
        return dict(hit[0])
    with _computing(key):  # another worker computing this key: wait for it, then read its entry
        hit = load(key)
        if hit is not None:
            return dict(hit[0])
        tensors = dict(compute())
        if not all(isinstance(v, torch.Tensor) for v in tensors.values()):
            raise MechtestsError("cached() compute must return a dict of tensors", "wrap scalars with torch.tensor(...)")
        store(key, tensors, meta)
    return tensors


@contextlib.contextmanager
def _computing(key: str) -> Iterator[None]:
    """Hold `<key>.lock` (an advisory lock on POSIX; none elsewhere) while computing one entry,
    so that xdist workers needing the same result compute it once."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent workers may both compute; the writes stay atomic
        yield
        return
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clear_memory() -> None:
    """Drop the in-memory layer (tests; long sessions)."""
    _MEMORY.clear()


__all__ = ["cache_dir", "cache_key", "cached", "clear_memory", "examples_hash", "load", "store"]
