"""A cache that fails costs nothing computed (issue #27 point 2): a folder that cannot be
written means the run goes on uncached with one warning, and an entry is refused under a key
that is not its own."""

from __future__ import annotations

import errno
import shutil
import warnings

import pytest
import torch

from mechtests.run import cache
from mechtests.run.cache import CacheWarning
from mechtests.testing.suite import suite  # noqa: F401 - the fixture


def _compute(calls: list[int]):  # noqa: ANN202 - a compute function
    return lambda: calls.append(1) or {"x": torch.arange(4.0)}


def test_a_cache_folder_that_is_a_file_goes_on_uncached_with_one_warning(isolated_cache, monkeypatch) -> None:
    blocker = isolated_cache.parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(blocker))
    calls: list[int] = []
    with pytest.warns(CacheWarning) as caught:
        first = cache.cached("k1", _compute(calls))
        second = cache.cached("k2", _compute(calls))
    assert torch.equal(first["x"], torch.arange(4.0)) and torch.equal(second["x"], first["x"]) and calls == [1, 1]
    message = str(caught[0].message)
    assert len(caught) == 1 and "cannot be written" in message and "going on uncached" in message and cache.CACHE_DIR_ENV in message


class _ReadOnlyFolderLock:
    """An entry's lock in a read-only folder: creating the lock file is refused. (This box runs the
    tests as root, whom a folder's mode bits do not stop, so the refusal is handed in here, as the
    operating system gives it to anyone else.)"""

    def __init__(self, path: str) -> None:
        self.path = path

    def acquire(self) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", self.path)


def test_a_read_only_cache_folder_goes_on_uncached_with_one_warning(isolated_cache, monkeypatch) -> None:
    """What the catalogue found: every cached hypothesis ended in `PermissionError ... .lock`."""
    monkeypatch.setattr(cache, "FileLock", _ReadOnlyFolderLock)
    calls: list[int] = []
    with pytest.warns(CacheWarning) as caught:
        first = cache.cached("k1", _compute(calls))
        second = cache.cached("k2", _compute(calls))
    assert torch.equal(first["x"], torch.arange(4.0)) and torch.equal(second["x"], first["x"]) and calls == [1, 1]
    assert len(caught) == 1 and "cannot be written (Permission denied): going on uncached" in str(caught[0].message)


def test_a_cache_folder_deleted_during_a_measurement_keeps_the_measurement(isolated_cache) -> None:
    calls: list[int] = []

    def measure() -> dict[str, torch.Tensor]:
        shutil.rmtree(isolated_cache)  # deleted while the measurement ran
        calls.append(1)
        return {"x": torch.ones(3)}

    with pytest.warns(CacheWarning, match="cannot be written.*going on uncached"):
        result = cache.cached("k", measure)
    assert torch.equal(result["x"], torch.ones(3)) and calls == [1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once; served from memory
        assert torch.equal(cache.cached("k", measure)["x"], torch.ones(3)) and calls == [1]


def test_an_entry_copied_over_another_key_is_refused_and_recomputed(isolated_cache) -> None:
    cache.store("a" * 64, {"x": torch.zeros(2)})
    cache.store("b" * 64, {"x": torch.ones(2)})
    shutil.copyfile(isolated_cache / f"{'a' * 64}.safetensors", isolated_cache / f"{'b' * 64}.safetensors")
    cache.clear_memory()
    calls: list[int] = []
    with pytest.warns(CacheWarning, match=f"holds the entry of another key \\({'a' * 64}\\).*recomputing"):
        again = cache.cached("b" * 64, lambda: calls.append(1) or {"x": torch.ones(2)})
    assert calls == [1] and torch.equal(again["x"], torch.ones(2))
    cache.clear_memory()
    assert torch.equal(cache.load("b" * 64)[0]["x"], torch.ones(2))  # replaced under its own key


CACHED_SUITE = '''
import torch
import mechtests
from mechtests.run import cache

@mechtests.hypothesis(expect={"pair": "holds"})
def test_a():
    assert cache.cached("k-a", lambda: {"x": torch.ones(2)})["x"].sum() == 2

@mechtests.hypothesis(expect={"pair": "holds"})
def test_b():
    assert cache.cached("k-b", lambda: {"x": torch.ones(3)})["x"].sum() == 3
'''


def test_a_run_with_an_unwritable_cache_folder_passes_with_one_warning(suite, monkeypatch) -> None:
    (suite.pytester.path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(suite.pytester.path / "blocked"))
    suite.write(test_c=CACHED_SUITE)
    result = suite.run("-W", "always::mechtests.run.cache.CacheWarning")
    assert result.ret == 0, result.stdout.str()
    assert suite.outcomes() == {"c.a": {"pair": "holds"}, "c.b": {"pair": "holds"}}
    assert result.stdout.str().count("cannot be written") == 1
