"""Options: each a flag and a pyproject key; a bad value is a one-line usage error naming the fix."""

from __future__ import annotations

import pytest

from mechtests.errors import MechtestsError
from mechtests.run import parsing, settings
from mechtests.run.pairs import resolve_pair


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mech-seed", "-1"], "--mech-seed: seed must be a non-negative integer, got '-1'; e.g. --mech-seed 0"),
        (["--mech-dtype", "f8"], "--mech-dtype: unknown dtype 'f8'; pass --mech-dtype auto or one of float32, bfloat16, float16"),
        (["--mech-device", "tpu"], "--mech-device: unknown device 'tpu'; pass --mech-device auto, cpu, cuda or cuda:N*"),
        (["--mech-max-memory", "lots"], "--mech-max-memory: cannot read the memory budget 'lots'; pass auto, an amount*"),
        (["--mech-tolerance", "lots"], "--mech-tolerance: tolerance must be a percentage or a non-negative number"),
        (["--pair", "nope"], "unknown pair 'nope' (known: fake); declare [[]tool.mechtests.pairs.nope[]]"),
        (["--mech-split-pair", "maybe"], "--mech-split-pair: expected yes, no or auto, got 'maybe'"),
    ],
)
def test_bad_values_are_one_line_usage_errors(suite, args, message) -> None:
    suite.write(test_a="def test_a():\n    pass\n")
    result = suite.run(*args)
    assert result.ret == 4
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1
    assert pytest.__name__ and __import__("fnmatch").fnmatch(errors[0], f"ERROR: mechtests: *{message}*")


def test_bad_pyproject_values_name_the_key(suite) -> None:
    suite.pytester.makepyprojecttoml('[tool.mechtests]\nseed = "x"\n')
    suite.write(test_a="def test_a():\n    pass\n")
    result = suite.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: mechtests: ?tool.mechtests? seed: seed must be a non-negative integer*"])


def test_help_shows_every_option_with_its_default(suite) -> None:
    out = suite.run("--help").stdout.str()
    for opt in settings.OPTIONS:
        assert (opt.flag if opt.const is not None else f"{opt.flag}={opt.metavar}") in out
    assert "(default: reports/)" in out and "(default: 0)" in out and "(default: 10%)" in out


def test_pairs_resolve_relative_to_their_folders(tmp_path) -> None:
    settings = {"pair": "p", "pairs": {"p": {"arm": "a", "mdm": "m"}, "q": {"arm": "qa", "mdm": "qm"}}}
    assert resolve_pair(settings, tmp_path) == (resolve_pair(settings, tmp_path, name="p"))
    pair = resolve_pair(settings, tmp_path, name="q", mdm="other", invocation_dir=tmp_path / "sub")
    assert (pair.name, pair.arm, pair.mdm) == ("q", str(tmp_path / "qa"), str(tmp_path / "sub" / "other"))
    with pytest.raises(MechtestsError, match=r"unknown pair 'r' \(known: p, q\)"):
        resolve_pair(settings, tmp_path, name="r")
    with pytest.raises(MechtestsError, match=r"has unknown keys \['ram'\].*use only arm, mdm, budget"):
        resolve_pair({"pairs": {"p": {"ram": "a"}}}, tmp_path, name="p")
    with pytest.raises(MechtestsError, match="must declare arm, mdm or both"):
        resolve_pair({"pairs": {"p": {"budget": "quick"}}}, tmp_path, name="p")
    with pytest.raises(MechtestsError, match="no model pair is configured; pass --mdm PATH"):
        resolve_pair({}, tmp_path).path("mdm")


def test_tolerance_is_relative_or_absolute() -> None:
    rel, absolute = parsing.parse_tolerance("10%"), parsing.parse_tolerance("0.05")
    assert rel.allows(1.0, 1.1) and not rel.allows(1.0, 1.11)
    assert absolute.allows(0.0, 0.05) and not absolute.allows(0.0, 0.06)


PLACED_PYPROJECT = '''
[tool.mechtests]
pair = "fake"
[tool.mechtests.pairs.fake]
arm = "models/arm"
mdm = {path = "models/mdm", dtype = "bf16"}
'''

PLACED_TEST = '''
import os

import torch

import mechtests
from mechtests.run import batching
from mechtests.plugin.loading import placed_options

torch.set_num_threads(3)  # at collection; the session's models fixture sets OMP_NUM_THREADS' 1

@mechtests.hypothesis(claim="placed as asked")
def test_placed(request, pair):
    assert torch.get_num_threads() == 1  # set by mechtests.models.placement.apply_threads; OMP_NUM_THREADS wins
    assert placed_options(request.config, "arm") == {"device": "cpu", "dtype": "float32"}
    assert placed_options(request.config, "mdm") == {"device": "cpu", "dtype": "bfloat16"}  # the pair table's dtype
    assert batching.current_limit() == batching.MemoryLimit(amount=2 * 2**30)
'''


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only placement")
def test_device_dtype_and_memory_budget_reach_every_worker(suite, monkeypatch) -> None:
    """auto places on the CPU in float32 (a pair table's dtype wins over auto), and the memory
    budget reaches the batched measurements of an xdist worker."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    suite.pytester.makepyprojecttoml(PLACED_PYPROJECT)
    suite.write(test_placed=PLACED_TEST)
    result = suite.run("-n", "2", "--mech-max-memory", "2GiB")
    assert result.ret == 0, result.stdout.str()[-2000:]
    run = suite.results()["run"]
    assert (run["device"], run["dtype"], run["max_memory"]) == ("auto", "auto", "2GiB")
    (case,) = [r for h in suite.results()["hypotheses"] for r in h["results"].values()]
    assert "--mech-max-memory=2GiB" in case["rerun"]  # the rerun command keeps the budget
