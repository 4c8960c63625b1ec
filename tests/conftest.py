"""Shared fixtures for the library's own tests: tiny random checkpoints, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mechtests.testing import FAMILIES, build_tiny_model

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
