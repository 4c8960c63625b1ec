"""A pair table may set every load option ModelSpec takes, family, attention and arch included,
and they reach load_subject as the same keyword arguments would."""

from __future__ import annotations

import dataclasses

import pytest

import mechtests
from mechtests.errors import MechtestsError
from mechtests.models.architectures import LLAMA_TREE
from mechtests.run.pairs import resolve_pair


def _table_pair(standin_paths, **options):
    """The DiffuLLaMA stand-in declared as a pair's MDM, with `options` in its table, as pyproject parses them."""
    folder = standin_paths["diffullama"]
    settings = {"pairs": {"p": {"mdm": {"path": folder.name, "kind": "mdm", **options}}}}
    return resolve_pair(settings, folder.parent, name="p")


def test_family_attention_and_arch_from_a_pair_table_reach_the_loader(standin_paths):
    arch = {**dataclasses.asdict(LLAMA_TREE), "tree": "declared in the table"}
    arch["qkv"] = list(arch["qkv"])  # TOML has arrays, not tuples
    pair = _table_pair(standin_paths, family="diffullama", attention="additive-mask", arch=arch)
    subject = mechtests.load_subject(pair.path("mdm"), **pair.load_options("mdm"))
    assert subject.family.name == "diffullama" and subject.arch.tree == "declared in the table"
    assert subject.direction == "bidirectional"


def test_a_pair_tables_attention_is_used_not_ignored(standin_paths):
    pair = _table_pair(standin_paths, attention="causal")  # the DiffuLLaMA trap, declared on purpose
    with pytest.raises(MechtestsError, match="declared an MDM but its attention measured causal"):
        mechtests.load_subject(pair.path("mdm"), **pair.load_options("mdm"))
