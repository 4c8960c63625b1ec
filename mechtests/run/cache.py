"""A disk cache (plus a bounded in-memory layer, mechtests.run.memory_layer) for expensive measurements.

A cache that cannot lie:
- The key covers everything that changes a result: the model (weights sha256, kind, mask
  token, prediction convention, dtype, device class), the task name, a hash of the examples,
  the method and every parameter, the mechtests version, the versions of the libraries that
  compute the numbers (torch, transformers, nnsight, safetensors), and the measurement code
  itself as a sha256 of the package's source (`code_hash`), so that editing a measurement
  changes every key it could have touched.
- Each entry is one safetensors file (never pickle) whose header carries the metadata, its own
  key and a sha256 of the tensors' contents; it is written to a temporary file and renamed into
  place. On read the checksum and the key are verified: an entry that is unreadable, truncated,
  fails its checksum or was stored under another key (a file copied over another) is never
  served; it is recomputed and replaced, with a CacheWarning.
- A worker computing an entry holds a per-entry `filelock` lock (cross-platform), so that
  concurrent xdist workers needing it compute it once and never read a half-replaced entry.
- A cache folder that cannot be written (read-only, a file, deleted during the run) costs
  nothing computed: the process goes on with its entries in memory, with one CacheWarning.

    key = cache_key(subject, "induction", examples, "eap-ig", {"steps": 32})
    scores = cached(key, lambda: {"scores": compute()})["scores"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from filelock import FileLock
from safetensors.torch import load as load_bytes, save_file

import mechtests
from mechtests.errors import MechtestsError
from mechtests.run import memory_layer

CACHE_DIR_ENV = "MECHTESTS_CACHE_DIR"
DEFAULT_DIR = ".mechtests-cache"
ENTRY_FORMAT = 3  # layout of an entry (one safetensors file, checksum and key in its header); part of every key
PACKAGE_ROOT = Path(mechtests.__file__).resolve().parent  # the whole package, not this module's folder
# Presentation and test-support code never changes a measured number, so editing it keeps the keys.
NOT_MEASUREMENT_CODE = ("plugin", "reports", "commands", "cli.py", "testing")
LIBRARIES = ("torch", "transformers", "nnsight", "safetensors")
_UNWRITABLE: set[Path] = set()  # cache folders that failed a write in this process: used uncached from then on


class CacheWarning(UserWarning):
    """A damaged cache entry was found and is being recomputed, or the cache folder cannot be written."""


@dataclasses.dataclass(frozen=True)
class ModelIdentity:
    """What of a model changes a measured number, without the model loaded (`mechtests plan`)."""

    weights_sha256: str
    kind: str
    mask_token_id: int | None
    prediction: str
    dtype: torch.dtype
    device: torch.device


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


@functools.lru_cache(maxsize=None)
def code_hash(root: Path) -> str:
    """sha256 of the measurement code: every .py file under `root` (paths relative to it, in
    order) except the presentation layers in NOT_MEASUREMENT_CODE.

    Hashed once per process: the code that runs is the code imported at start-up, so a later
    edit of the files on disk would not change what this process computes.
    """
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] in NOT_MEASUREMENT_CODE:
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def library_versions() -> dict[str, str]:
    """Versions of the libraries whose code computes the numbers (a new torch kernel or transformers
    attention can change them), read from the installed metadata without importing them."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def model_identity(subject: Any) -> dict[str, Any]:
    """The model's part of a key; a bare string stands for a weights sha256 (tests, tools)."""
    if isinstance(subject, str):
        return {"weights_sha256": subject}
    dtype = getattr(subject, "dtype", None) or next(subject.model.parameters()).dtype
    return {
        "weights_sha256": str(subject.weights_sha256), "kind": str(subject.kind), "mask_token_id": subject.mask_token_id,
        "prediction": str(subject.prediction), "dtype": str(dtype), "device": torch.device(subject.device).type,
    }


def cache_key(subject: Any, task: str, examples: Sequence[Any], method: str, params: Mapping[str, Any] | None = None) -> str:
    """One hex key for (model identity, task, examples, method, params, mechtests version, code, libraries)."""
    payload = {
        "model": model_identity(subject), "task": task, "examples": examples_hash(examples), "method": method,
        "params": _plain(dict(params or {})), "mechtests": mechtests.__version__, "code": code_hash(PACKAGE_ROOT), "libraries": library_versions(), "format": ENTRY_FORMAT,
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


def checksum(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over each tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        # standard strides: a one-element slice counts as contiguous with any stride, and cannot be viewed as bytes
        t = tensors[name].detach().cpu().clone(memory_format=torch.contiguous_format)
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _entry_path(key: str) -> Path:
    return cache_dir() / f"{key}.safetensors"


def _unwritable(folder: Path, err: OSError) -> None:
    """Go on without writing to `folder` for the rest of this process, saying so once."""
    if folder.absolute() not in _UNWRITABLE:
        _UNWRITABLE.add(folder.absolute())
        warnings.warn(CacheWarning(f"mechtests cache folder {folder} cannot be written ({err.strerror or err}): "
                                   f"going on uncached; set {CACHE_DIR_ENV} to a folder you can write to"), stacklevel=4)


def _locked(key: str) -> FileLock | None:
    """The entry's lock, acquired; None when the cache folder cannot be written (see _unwritable)."""
    folder = cache_dir()
    if folder.absolute() in _UNWRITABLE:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / f"{key}.lock"))
        lock.acquire()
    except OSError as err:
        _unwritable(folder, err)
        return None
    return lock


@contextlib.contextmanager
def _holding(key: str) -> Iterator[bool]:
    """Hold the entry's lock while inside; yields whether the cache folder can be written."""
    lock = _locked(key)
    try:
        yield lock is not None
    finally:
        if lock is not None:
            lock.release()


def _read(key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The verified entry (then held in memory too), or None when absent; a damaged one warns and counts as absent."""
    path = _entry_path(key)
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        tensors = load_bytes(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")]).get("__metadata__") or {}
        meta = json.loads(header["meta"])
        ok = header.get("sha256") == checksum(tensors)
    except Exception as err:  # noqa: BLE001 - any failure to parse means the entry cannot be trusted
        problem = f"unreadable ({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else 'no detail'})"
    else:
        if not ok:
            problem = "its checksum does not match its contents"
        elif header.get("key") != key:
            problem = f"it holds the entry of another key ({header.get('key') or 'none'})"
        else:
            memory_layer.keep(key, (tensors, meta), on_disk=True)
            return tensors, meta
    warnings.warn(CacheWarning(f"mechtests cache entry {path} is damaged, {problem}: recomputing it and replacing it"), stacklevel=3)
    return None


def _write(key: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Store the entry on disk when the folder can be written, and in memory always."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    plain = _plain(dict(meta or {}))
    header = {"meta": json.dumps(plain, sort_keys=True), "sha256": checksum(tensors), "format": str(ENTRY_FORMAT), "key": key}
    target = _entry_path(key)
    if target.parent.absolute() not in _UNWRITABLE:
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            try:
                save_file(tensors, tmp, metadata=header)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as err:
            _unwritable(target.parent, err)
    memory_layer.keep(key, (tensors, plain), on_disk=target.is_file())
    return tensors, plain


def load(key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The stored (tensors, metadata) for `key`, or None (absent, or damaged: see CacheWarning)."""
    entry = memory_layer.remembered(key)
    if entry is None:
        with _holding(key):
            entry = _read(key)
    return entry


def stored(key: str) -> bool:
    """Whether an entry for `key` is on disk (not verified: reading it verifies it)."""
    return memory_layer.holds(key) or _entry_path(key).is_file()


def store(key: str, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None = None) -> None:
    """Write an entry atomically, with its checksum and key, under the entry's lock."""
    with _holding(key):
        _write(key, tensors, meta)


def cached(
    key: str, compute: Callable[[], Mapping[str, torch.Tensor]], meta: Mapping[str, Any] | None = None, enabled: bool = True
) -> dict[str, torch.Tensor]:
    """The tensors stored under `key`, computing and storing them on a miss or a damaged entry."""
    if not enabled:
        return dict(compute())
    entry = memory_layer.remembered(key)
    if entry is None:
        with _holding(key):  # another worker computing this key: wait for it, then read its entry
            entry = _read(key)
            if entry is None:
                tensors = dict(compute())
                if not all(isinstance(v, torch.Tensor) for v in tensors.values()):
                    raise MechtestsError("cached() compute must return a dict of tensors", "wrap scalars with torch.tensor(...)")
                entry = _write(key, tensors, meta)
    return dict(entry[0])


def clear_memory() -> None:
    """Drop the in-memory layer and forget the unwritable folders (tests; long sessions)."""
    memory_layer.clear()
    _UNWRITABLE.clear()


__all__ = [
    "CacheWarning", "ModelIdentity", "cache_dir", "cache_key", "cached", "checksum", "clear_memory", "code_hash",
    "examples_hash", "library_versions", "load", "model_identity", "store", "stored",
]
