"""An MDM saved with a smaller embedding than the tokenizer it ships (issue #27 point 2): its
tokens agree with the ARM's, so it passed the pair check and ended every test, and `mechtests
eval`, in a raw IndexError. The pair check now refuses it in one line, before any model loads:
exit 4 for pytest, exit 2 for eval."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from mechtests.cli import main as cli_main
from mechtests.testing.suite import suite  # noqa: F401 - the fixture

TINY = Path(__file__).resolve().parents[2] / "fixtures" / "tiny-pair"
ROWS = 100  # the bundled tokenizer has 249 ids; its task examples use ids above 100
HYPOTHESIS = "import mechtests\n\n@mechtests.hypothesis(id='h')\ndef test_h(pair):\n    pass\n"


@pytest.fixture(scope="module")
def small_mdm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled MDM with its embedding (and output head) cut to ROWS rows; its tokenizer unchanged."""
    folder = tmp_path_factory.mktemp("small") / "mdm"
    model = AutoModelForCausalLM.from_pretrained(TINY / "mdm")
    model.resize_token_embeddings(ROWS)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TINY / "mdm" / name, folder / name)
    return folder


def _expected(line: str, small_mdm: Path) -> None:
    found = re.search(r"the MDM's embedding is smaller than its tokenizer: task \w+, example \d+ uses token id (\d+), "
                      rf"but its vocab_size is {ROWS} \(ids 0-{ROWS - 1}\) \({re.escape(str(small_mdm))}\)", line)
    assert found is not None and int(found.group(1)) >= ROWS, line
    assert "resize_token_embeddings(len(tokenizer))" in line, line


def test_pytest_stops_before_any_test(suite, small_mdm) -> None:
    suite.pytester.makepyprojecttoml(f'[tool.mechtests]\npair = "small"\n[tool.mechtests.pairs.small]\n'
                                     f'arm = "{TINY / "arm"}"\nmdm = "{small_mdm}"\n')
    suite.write(test_h=HYPOTHESIS)
    line = suite.usage_error()  # exit 4, one ERROR line, no report
    assert line.startswith("ERROR: mechtests: ")
    _expected(line, small_mdm)


def test_eval_refuses_it_in_one_line(capsys, small_mdm) -> None:
    assert cli_main(["eval", "--arm", str(TINY / "arm"), "--mdm", str(small_mdm), "--n", "20", "--task", "ioi"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mechtests eval: error: ") and "\n" not in err and "Traceback" not in err
    _expected(err, small_mdm)
