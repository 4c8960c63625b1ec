"""A model's identity: the sha256 of its weight files, read once per file version.

Hashing the weights on every load costs a full read of them (15 GB for a 7B model), in every
xdist worker and again in `mechtests plan`. Once a run names a memo folder (`remember_in`, the
cache folder), each digest is kept there, keyed by every file's resolved path, size, mtime and
inode: a file rewritten, replaced or touched is read and hashed again. `verify=True` (the
plugin's --mech-verify-weights) reads and hashes every load, and refreshes the memo.
The memo is only a shortcut to a value anyone can recompute: one that cannot be read is
treated as empty, and one that cannot be written is left alone (the digest is still right).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

MEMO_NAME = "weights-sha256.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_memo: dict[str, object] = {"folder": None, "verify": False}


def remember_in(folder: str | Path | None, verify: bool = False) -> None:
    """Keep digests in `folder` (None: compute on every load); verify: recompute and refresh."""
    _memo["folder"], _memo["verify"] = (None if folder is None else Path(folder)), verify


def weights_sha256(files: list[Path]) -> str:
    """One sha256 over the weight files' bytes, in name order: the model's identity in reports
    and caches; from the memo when every file is as it was when it was hashed."""
    folder = _memo["folder"]
    if folder is None:
        return _digest(files)
    key = _key(files)
    memo_path = Path(folder) / MEMO_NAME  # type: ignore[arg-type]
    memo = _read(memo_path)
    known = memo.get(key)
    if not _memo["verify"] and isinstance(known, str) and _SHA256.fullmatch(known):
        return known
    digest = _digest(files)
    _write(memo_path, {**_read(memo_path), key: digest})
    return digest


def _digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _key(files: list[Path]) -> str:
    """The files as they are now: path, size, mtime (ns) and inode of each, in name order."""
    rows = []
    for path in sorted(files):
        st = Path(path).stat()
        rows.append([str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino])
    return json.dumps(rows)


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, memo: dict[str, object]) -> None:
    """Replace the memo in one rename (concurrent workers lose at most an entry, never corrupt it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo, indent=0))
        os.replace(tmp, path)
    except OSError:
        pass
