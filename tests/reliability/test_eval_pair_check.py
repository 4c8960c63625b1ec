"""`mechtests eval` checks the pair as the suites do (issue #27): an MDM whose tokenizer maps the
task ids to other tokens is one line naming the first difference, exit 2, before any model loads."""

from __future__ import annotations

import shutil
from pathlib import Path

from transformers import AutoTokenizer

from mechtests.cli import main

TINY = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"


def test_eval_refuses_an_mdm_whose_tokenizer_maps_task_ids_to_other_tokens(tmp_path, capsys) -> None:
    mdm = tmp_path / "mdm"
    shutil.copytree(TINY / "mdm", mdm)
    tokenizer = AutoTokenizer.from_pretrained(mdm)
    vocab = tokenizer.get_vocab()
    tokenizer.backend_tokenizer.model = type(tokenizer.backend_tokenizer.model)(
        vocab={**vocab, "s0": vocab["s1"], "s1": vocab["s0"]}, unk_token=tokenizer.unk_token)
    tokenizer.save_pretrained(mdm)
    assert main(["eval", "--arm", str(TINY / "arm"), "--mdm", str(mdm), "--n", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert "the pair's tokenizers disagree" in err and "to the ARM but" in err and "\n" not in err
