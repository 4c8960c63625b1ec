"""Weights are hashed once per file version (issue #26 point 4): the memo serves a digest only
while every file keeps its path, size, mtime and inode."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from mechtests.models import identity


@pytest.fixture
def memo(tmp_path, monkeypatch):
    monkeypatch.setattr(identity, "_memo", {"folder": None, "verify": False})
    identity.remember_in(tmp_path / "cache")
    return tmp_path / "cache" / identity.MEMO_NAME


def _weights(tmp_path, data: bytes = b"weights"):
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    return [path]


def _count_reads(monkeypatch) -> list[int]:
    reads: list[int] = []
    real = identity._digest
    monkeypatch.setattr(identity, "_digest", lambda files: reads.append(1) or real(files))
    return reads


def test_a_digest_is_read_from_the_memo_while_the_file_is_unchanged(tmp_path, memo, monkeypatch):
    files = _weights(tmp_path)
    reads = _count_reads(monkeypatch)
    first = identity.weights_sha256(files)
    assert first == hashlib.sha256(b"weights").hexdigest() and memo.is_file()
    assert identity.weights_sha256(files) == first and len(reads) == 1


@pytest.mark.parametrize("change", ["touched", "replaced"])
def test_a_changed_file_is_hashed_again(tmp_path, memo, monkeypatch, change):
    files = _weights(tmp_path)
    identity.weights_sha256(files)
    reads = _count_reads(monkeypatch)
    st = files[0].stat()
    if change == "touched":
        os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    else:
        other = tmp_path / "new.safetensors"
        other.write_bytes(b"other!!")
        os.replace(other, files[0])  # a new inode and size at the same path
    assert identity.weights_sha256(files) == hashlib.sha256(files[0].read_bytes()).hexdigest() and len(reads) == 1


def test_a_rewrite_that_keeps_size_mtime_and_inode_needs_verify(tmp_path, memo):
    """The key cannot see bytes changed in place with the mtime put back: --mech-verify-weights."""
    files = _weights(tmp_path)
    identity.weights_sha256(files)
    st = files[0].stat()
    files[0].write_bytes(b"WEIGHTS")
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns))
    assert identity.weights_sha256(files) == hashlib.sha256(b"weights").hexdigest()  # the memo's
    identity.remember_in(memo.parent, verify=True)
    assert identity.weights_sha256(files) == hashlib.sha256(b"WEIGHTS").hexdigest()


def test_verify_rehashes_and_refreshes_the_memo(tmp_path, memo, monkeypatch):
    files = _weights(tmp_path)
    identity.weights_sha256(files)
    memo.write_text(memo.read_text().replace(hashlib.sha256(b"weights").hexdigest(), "0" * 64))  # a stale digest
    identity.remember_in(memo.parent, verify=True)
    assert identity.weights_sha256(files) == hashlib.sha256(b"weights").hexdigest()
    assert "0" * 64 not in memo.read_text()


@pytest.mark.parametrize("damage", ["not json", '["a list"]', '{"KEY": "not a sha256"}'])
def test_a_damaged_memo_is_ignored_never_served(tmp_path, memo, damage):
    files = _weights(tmp_path)
    memo.parent.mkdir(parents=True)
    memo.write_text(damage.replace("KEY", identity._key(files).replace('"', '\\"')))
    assert identity.weights_sha256(files) == hashlib.sha256(b"weights").hexdigest()


def test_an_unwritable_memo_still_gives_the_digest(tmp_path, monkeypatch):
    monkeypatch.setattr(identity, "_memo", {"folder": None, "verify": False})
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    identity.remember_in(blocker / "cache")
    assert identity.weights_sha256(_weights(tmp_path)) == hashlib.sha256(b"weights").hexdigest()


@pytest.mark.parametrize("verify", [False, True])
def test_a_run_keeps_each_models_digest_in_its_cache_folder(pytester: pytest.Pytester, verify: bool) -> None:
    """The plugin's loader names the cache folder: after a run on the bundled pair the memo holds
    both models' digests, the same that reading the files gives (also with --mech-verify-weights)."""
    root = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair"
    pytester.makepyprojecttoml(f'[tool.mechtests]\npair = "tiny"\n[tool.mechtests.pairs.tiny]\n'
                               f'arm = "{root}/arm"\nmdm = "{root}/mdm"\n')
    pytester.makepyfile(test_h="import mechtests\n\n@mechtests.hypothesis()\ndef test_loads(subject):\n    assert subject.weights_sha256\n")
    args = ["-p", "no:cacheprovider", *(["--mech-verify-weights"] if verify else [])]
    assert pytester.runpytest_subprocess(*args).ret == 0
    memo = json.loads((pytester.path / ".mechtests-cache" / identity.MEMO_NAME).read_text())
    expected = {identity._digest(sorted((root / role).glob("*.safetensors"))) for role in ("arm", "mdm")}
    assert set(memo.values()) == expected
