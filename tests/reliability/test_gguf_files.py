"""A damaged GGUF file (not GGUF at all, a header alone, a partial download) is one line naming
the file and the fix, never a traceback from inside the GGUF readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mechtests.cli import main as cli_main

pytest.importorskip("gguf", reason="the GGUF readers need the gguf extra: pip install -e .[gguf]")


def inspect_error(capsys, path: Path) -> str:
    assert cli_main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mechtests inspect: error: {path} is not a readable GGUF file (") and err.count("\n") == 1
    assert err.rstrip().endswith("re-download it (a partial download is the usual cause), or check the path")
    return err


@pytest.mark.parametrize(("content", "reason"), [
    (b"PK\x03\x04 a zip file, say" * 8, "does not start with the GGUF magic bytes"),
    (b"GGUF\x03\x00\x00\x00", "unpack_from requires a buffer"),
])
def test_a_file_that_is_not_gguf_is_named(tmp_path, capsys, content, reason) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    assert reason in inspect_error(capsys, path)


@pytest.mark.real_model
def test_a_partial_download_is_named(tmp_path, capsys, smollm2_pair) -> None:
    whole = Path(smollm2_pair.location("arm"))
    path = tmp_path / whole.name
    with whole.open("rb") as fh:
        path.write_bytes(fh.read(2_000_000))  # the header and the start of the tensors: a download cut short
    inspect_error(capsys, path)
