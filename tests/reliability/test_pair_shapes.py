"""Library calls on a pair whose models differ in shape (a 2-layer MDM against a 4-layer ARM)
are a MechtestsError naming both models' layer counts, never a raw IndexError."""

from __future__ import annotations

import pytest
import torch

import mechtests
from mechtests import study
from mechtests.errors import MechtestsError
from mechtests.queries import Example
from mechtests.testing.checkpoints import build_tiny_model


def examples(n: int) -> list[Example]:
    g = torch.Generator().manual_seed(0)
    return [Example(tokens=tuple(torch.randint(5, 60, (10,), generator=g).tolist()), answer_positions=(9,), wrong=(5,),
                    corrupted=tuple(torch.randint(5, 60, (10,), generator=g).tolist())) for _ in range(n)]


def test_resampled_statistics_of_a_4_layer_arm_and_a_2_layer_mdm_name_both_layer_counts(tmp_path, isolated_cache) -> None:
    arm = mechtests.load_subject(build_tiny_model(tmp_path / "arm", kind="arm", n_layers=4))
    mdm = mechtests.load_subject(build_tiny_model(tmp_path / "mdm", kind="mdm", n_layers=2))
    pool = examples(4)
    a, m = study.attribution(arm, "toy", pool, steps=1), study.attribution(mdm, "toy", pool, steps=1)
    with pytest.raises(MechtestsError, match=r"^attributions of models of different shapes: 4 layers x 4 heads vs 2 layers x 4 heads"):
        study.resampled([a, m], study.edge_jaccard(a.graph, k=5), seed=0, n_resamples=2)
