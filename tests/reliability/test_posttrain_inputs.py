"""`mechtests posttrain` refuses, in one line and before loading the ARM, an MDM given as the ARM,
a new run of zero minutes (it would write the ARM's own weights as the MDM) and an --out that
cannot be written."""

from __future__ import annotations

from pathlib import Path

import pytest

from mechtests.cli import main as cli_main

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "tiny-pair"
ARM, MDM = FIXTURES / "arm", FIXTURES / "mdm"


def one_line_error(capsys, *args: str) -> str:
    assert cli_main(["posttrain", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mechtests posttrain: error: ") and err.count("\n") == 1, err
    return err


def test_an_mdm_given_as_the_arm_is_refused(tmp_path, capsys) -> None:
    err = one_line_error(capsys, MDM, "--out", tmp_path / "o")
    assert f"{MDM} is an MDM (its config.json's mechtests block says kind mdm); pass the ARM to adapt" in err
    assert not (tmp_path / "o").exists()


def test_zero_minutes_for_a_new_run_is_refused(tmp_path, capsys) -> None:
    err = one_line_error(capsys, ARM, "--out", tmp_path / "o", "--minutes", "0")
    assert "it would train zero steps and write the ARM's own weights as the MDM; pass --minutes above 0, or --resume" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("out", ["plain/o", "plain"])
def test_an_out_that_cannot_be_made_is_refused_before_loading(tmp_path, capsys, monkeypatch, out) -> None:
    (tmp_path / "plain").write_text("a file, not a folder")
    monkeypatch.setattr("mechtests.posttrain.training.load_subject", lambda *a, **k: pytest.fail("loaded before checking --out"))
    err = one_line_error(capsys, ARM, "--out", tmp_path / out)
    assert f"cannot write --out {tmp_path / out}: Not a directory; pass --out a folder you can write to" in err
