"""The expectations file format and lookup (mechtests.claims.expectations), without a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from mechtests.claims.expectations import AUTO, NONE, Expectations, check_table, choose, dumps, read_file
from mechtests.claims.hypotheses import Hypothesis
from mechtests.errors import MechtestsError

VERDICTS = {"heads.induction_heads_present": {"arm": "holds", "mdm": "fails"}, "overlap[ioi]": {"pair": "inconclusive"},
            'odd"quoted\\id_café': {"mdm": "holds"}}


def test_what_dumps_writes_read_file_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "expect.toml"
    path.write_text(dumps(VERDICTS, ["header line", "another"]))
    assert read_file(path, "test") == VERDICTS
    assert path.read_text().startswith("# header line\n# another\n")


def test_a_variant_key_wins_over_its_id_and_what_the_table_leaves_out_has_no_expectation() -> None:
    table = Expectations("file", "f.toml", {"overlap": {"pair": "holds"}, "overlap[ioi]": {"pair": "fails"}})
    hyp = Hypothesis(id="overlap", expect={"pair": "holds"})
    assert table.expected(hyp, "overlap[ioi]", "pair") == "fails"
    assert table.expected(hyp, "overlap[greater_than]", "pair") == "holds"
    assert table.expected(Hypothesis(id="depth"), "depth", "arm") is None


def test_the_hypotheses_own_and_discovery() -> None:
    hyp = Hypothesis(id="heads", expect={"mdm": "fails"})
    own = choose(AUTO, None, "--mech-expect", "tiny", None, None)
    assert (own.source, own.expected(hyp, "heads", "mdm"), own.expected(hyp, "heads", "arm")) == ("hypotheses", "fails", "holds")
    assert choose(NONE, None, "--mech-expect", "tiny", {"heads": {"arm": "fails"}}, None).expected(hyp, "heads", "arm") is None
    paired = choose(AUTO, None, "--mech-expect", "tiny", {"heads": {"arm": "fails"}}, "f.toml")
    assert (paired.source, paired.file, paired.expected(hyp, "heads", "arm")) == ("pair", "f.toml", "fails")


def test_unmatched_names_entries_no_case_takes() -> None:
    table = Expectations("file", "f.toml", {"heads": {"arm": "holds", "pair": "holds"}, "overlap": {"pair": "holds"}})
    assert table.unmatched([("heads", "heads", "arm"), ("overlap[ioi]", "overlap", "pair")]) == ["heads [pair]"]


@pytest.mark.parametrize("data, problem", [
    ({"heads": {"arm": "yes"}}, "'heads' arm = 'yes' is not a verdict"),
    ({"heads": {"base": "holds"}}, "'heads' names the model 'base'"),
    ({"heads": {"arm": "holds", "pair": "holds"}}, "'heads' mixes pair with per-model keys"),
    ({"heads": "holds"}, "'heads' = 'holds' is not a table of models"),
    ({"with space": {"arm": "holds"}}, "'with space' is not a hypothesis id"),
])
def test_check_table_names_the_entry_and_the_fix(data, problem) -> None:
    with pytest.raises(MechtestsError) as err:
        check_table(data, "where")
    assert problem in str(err.value) and err.value.fix


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("heads = {arm = \n")
    with pytest.raises(MechtestsError, match="cannot read") as err:
        read_file(path, "--mech-expect")
    assert "\n" not in str(err.value)
