"""A cache that cannot lie (#11 point 3): keys cover what changes a result, damaged entries are recomputed."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import mechtests
from mechtests import study
from mechtests.run import cache, memory_layer
from mechtests.run.cache import CacheWarning, ModelIdentity
from mechtests.tasks import TaskSet

PAIR = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"
IDENTITY = ModelIdentity("a" * 64, "mdm", 7, "shifted", torch.float32, torch.device("cpu"))


def _key(identity: ModelIdentity = IDENTITY, examples=(1, 2, 3), params=None) -> str:
    return cache.cache_key(identity, "toy", list(examples), "eap-ig", params or {"steps": 8})


def _data_start(raw: bytes) -> int:
    return 8 + int.from_bytes(raw[:8], "little")


def _flip_numbers(path: Path) -> None:
    """Change numbers inside the tensor data, leaving a valid safetensors header."""
    raw = bytearray(path.read_bytes())
    start = _data_start(bytes(raw))
    for offset in range(start + 3, len(raw), 97):  # the high byte of some float32s: other, finite-or-not numbers
        raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("field,value", [
    ("weights_sha256", "b" * 64), ("kind", "arm"), ("mask_token_id", 8), ("prediction", "same-position"),
    ("dtype", torch.bfloat16), ("device", torch.device("cuda", 0)),
])
def test_the_key_changes_with_every_property_of_the_model(field, value):
    import dataclasses

    assert _key(dataclasses.replace(IDENTITY, **{field: value})) != _key()


def test_the_key_changes_with_the_examples_every_parameter_and_the_version(monkeypatch):
    assert _key(examples=(1, 2, 4)) != _key()
    assert _key(params={"steps": 8, "denoise_steps": 2}) != _key()
    assert _key(params={"steps": 9}) != _key()
    assert cache.cache_key(IDENTITY, "other", [1, 2, 3], "eap-ig", {"steps": 8}) != _key()
    assert cache.cache_key(IDENTITY, "toy", [1, 2, 3], "eap", {"steps": 8}) != _key()
    before = _key()
    monkeypatch.setattr(mechtests, "__version__", "999.0")
    assert _key() != before
    patched, installed = _key(), cache.library_versions()
    monkeypatch.setattr(cache, "library_versions", lambda: {**installed, "torch": "99.0"})  # a torch upgrade
    assert _key() != patched


def test_editing_the_measurement_code_changes_the_key_and_editing_a_report_does_not(tmp_path, monkeypatch):
    def copy(name: str) -> Path:
        root = tmp_path / name / "mechtests"
        shutil.copytree(cache.PACKAGE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
        return root

    assert all((cache.PACKAGE_ROOT / name).exists() for name in cache.NOT_MEASUREMENT_CODE)  # no stale name
    original = _key()
    same = copy("same")
    assert cache.code_hash(same) == cache.code_hash(cache.PACKAGE_ROOT)  # where the code lives does not matter
    edited = copy("edited")
    engine = edited / "measure" / "attribution" / "eap.py"
    engine.write_text(engine.read_text() + "\nSTEP_OFFSET = 0.25\n")
    report = copy("report")
    (report / "reports" / "render_html.py").write_text((report / "reports" / "render_html.py").read_text() + "\n# edited\n")
    for root, changes in ((edited, True), (report, False)):
        monkeypatch.setattr(cache, "PACKAGE_ROOT", root)
        assert (_key() != original) is changes, root


def test_an_entry_carries_a_checksum_of_its_numbers_in_its_header(isolated_cache):
    key = _key()
    cache.store(key, {"x": torch.arange(6.0)}, {"task": "toy"})
    raw = (isolated_cache / f"{key}.safetensors").read_bytes()
    header = json.loads(raw[8:_data_start(raw)])["__metadata__"]
    assert header["sha256"] == cache.checksum({"x": torch.arange(6.0)}) and json.loads(header["meta"]) == {"task": "toy"}
    assert not list(isolated_cache.glob("*.json")) and not list(isolated_cache.glob("*.tmp"))


def test_a_one_element_slice_is_stored_and_read_back(isolated_cache):
    """A one-example stretch of a curve: shape (1,) with the stride of its parent row, which torch
    calls contiguous and which cannot be viewed as bytes as it is (SmolLM2 run, session 12)."""
    sliced = torch.arange(36.0).reshape(2, 18)[:1, 5]
    assert sliced.stride() == (18,) and sliced.is_contiguous()
    stored = cache.cached(_key(), lambda: {"clean": sliced})
    cache.clear_memory()
    assert torch.equal(cache.cached(_key(), lambda: {"clean": torch.zeros(1)})["clean"], torch.tensor([5.0]))
    assert cache.checksum({"clean": sliced}) == cache.checksum({"clean": torch.tensor([5.0])}) and torch.equal(stored["clean"], sliced)


def test_the_memory_layer_drops_its_oldest_entries_on_disk_past_its_budget(isolated_cache, monkeypatch):
    monkeypatch.setattr(memory_layer, "MEMORY_LAYER_BYTES", 3 * 4000)  # three entries of 1000 float32s
    keys = [_key(params={"steps": i}) for i in range(5)]
    calls = []
    for i, key in enumerate(keys):
        cache.cached(key, lambda i=i: calls.append(i) or {"x": torch.full((1000,), float(i))})
    assert memory_layer.keys() == keys[2:]  # the two oldest dropped from memory, kept on disk
    assert float(cache.cached(keys[0], lambda: calls.append("again") or {})["x"][0]) == 0.0 and calls == [0, 1, 2, 3, 4]
    assert memory_layer.keys() == keys[3:] + keys[:1]  # read back from disk, now the most recent


def test_the_memory_layer_keeps_what_could_not_be_written(isolated_cache, monkeypatch):
    monkeypatch.setattr(memory_layer, "MEMORY_LAYER_BYTES", 4000)
    monkeypatch.setattr(cache, "save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("read-only")))
    keys = [_key(params={"steps": i}) for i in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)
        for i, key in enumerate(keys):
            cache.cached(key, lambda i=i: {"x": torch.full((1000,), float(i))})
    assert memory_layer.keys() == keys  # not on disk: dropping one would mean computing it again


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty"])
def test_a_damaged_entry_is_recomputed_and_replaced_with_a_warning(isolated_cache, damage):
    key, calls = _key(), []
    compute = lambda: calls.append(1) or {"x": torch.linspace(-3, 3, 256)}  # noqa: E731
    cold = cache.cached(key, compute)["x"]
    path = isolated_cache / f"{key}.safetensors"
    raw = path.read_bytes()
    if damage == "flip":
        _flip_numbers(path)
        assert not torch.equal(load_file(str(path))["x"], cold)  # a valid file that would lie
    else:
        path.write_bytes({"truncate": raw[: len(raw) - 100], "garbage": b"\x00not a safetensors file", "empty": b""}[damage])
    cache.clear_memory()
    with pytest.warns(CacheWarning, match="damaged.*recomputing"):
        again = cache.cached(key, compute)["x"]
    assert calls == [1, 1] and torch.equal(again, cold)
    cache.clear_memory()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the replaced entry is whole: served without a warning or a recompute
        assert torch.equal(cache.cached(key, compute)["x"], cold) and calls == [1, 1]


def test_load_never_serves_a_damaged_entry(isolated_cache):
    key = _key()
    cache.store(key, {"x": torch.ones(64)})
    _flip_numbers(isolated_cache / f"{key}.safetensors")
    cache.clear_memory()
    with pytest.warns(CacheWarning):
        assert cache.load(key) is None


@pytest.mark.skipif(not (PAIR / "arm" / "config.json").is_file(), reason="fixtures/tiny-pair is not built")
def test_bundled_pair_attributions_flipped_and_truncated_are_recomputed_like_a_cold_run(isolated_cache):
    """The acceptance case: one cached attribution with other numbers, another truncated."""
    arm, mdm = (mechtests.load_subject(PAIR / kind) for kind in ("arm", "mdm"))
    tasks = TaskSet(arm.tokenizer, n=16, seed=0)
    runs = [(arm, "induction", tasks.induction[:6]), (mdm, "countdown", tasks.countdown[:6])]
    cold = [study.attribution(s, task, examples, steps=2) for s, task, examples in runs]
    entries = {s.kind: isolated_cache / f"{cache.cache_key(s, task, ex, 'eap-ig', {'steps': 2, 'denoise_steps': 1})}.safetensors"
               for s, task, ex in runs}
    assert all(path.is_file() for path in entries.values())
    _flip_numbers(entries["arm"])
    assert not torch.equal(load_file(str(entries["arm"]))["per_example"], cold[0].per_example)
    raw = entries["mdm"].read_bytes()
    entries["mdm"].write_bytes(raw[: len(raw) // 2])
    cache.clear_memory()
    with pytest.warns(CacheWarning) as caught:
        warm = [study.attribution(s, task, examples, steps=2) for s, task, examples in runs]
    assert sorted(str(w.message).split(" is damaged")[0].rsplit("/", 1)[-1] for w in caught if w.category is CacheWarning) == sorted(p.name for p in entries.values())
    for a, b in zip(cold, warm):
        assert torch.equal(a.per_example, b.per_example) and torch.equal(a.metric_clean, b.metric_clean)
        assert torch.equal(a.metric_corrupted, b.metric_corrupted)
