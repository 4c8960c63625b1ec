"""Bad run inputs known before any test runs (issue #27 point 2): each is one usage error
(exit 4) naming the fix, with no test run and no report written."""

from __future__ import annotations

import pytest

from mechtests.testing.suite import suite  # noqa: F401 - the fixture

NEVER_RUNS = "import mechtests\n\n@mechtests.hypothesis()\ndef test_h(subject):\n    raise SystemExit('ran')\n"


def pair_table(suite, table: str) -> None:
    """Declare pair `real` as `table` and use mechtests' own loader (no fake conftest)."""
    suite.pytester.makeconftest("")
    suite.pytester.makepyprojecttoml(f'[tool.mechtests]\npair = "real"\n[tool.mechtests.pairs.real]\n{table}\n')
    suite.write(test_h=NEVER_RUNS)


def test_a_huge_seed_range_is_sized_before_it_is_expanded(suite) -> None:
    suite.write(test_h=NEVER_RUNS)
    line = suite.usage_error("--mech-seeds=0-4294967296")
    assert "--mech-seeds" in line and "names 4294967297 seeds" in line and "pass at most 64 seeds" in line


@pytest.mark.parametrize("flags", [("--arm=none", "--mdm=none"), ("--mech-arm", "none", "--mech-mdm", "none")])
def test_leaving_out_both_models_is_one_usage_error(suite, flags) -> None:
    suite.write(test_h=NEVER_RUNS)
    line = suite.usage_error(*flags)
    assert "=none leaves no model to run" in line and "leave out at most one model" in line


def test_a_pair_table_path_that_does_not_exist(suite) -> None:
    pair_table(suite, 'arm = "models/nowhere"')
    line = suite.usage_error()
    assert "[tool.mechtests.pairs.real] arm: " in line and "models/nowhere does not exist" in line
    assert "fix its path" in line


def test_an_unknown_family(suite) -> None:
    pair_table(suite, '[tool.mechtests.pairs.real.arm]\npath = "."\nfamily = "nonexistent"')
    line = suite.usage_error()
    assert "[tool.mechtests.pairs.real.arm] family 'nonexistent' is not a known family" in line
    assert "use one of " in line and "gpt2" in line


def test_an_unknown_attention_form(suite) -> None:
    pair_table(suite, '[tool.mechtests.pairs.real.arm]\npath = "."\nattention = "sideways"')
    line = suite.usage_error()
    assert "attention 'sideways' is not a known attention form" in line and "config-flag" in line


def test_an_unknown_pair_key_is_named_with_the_allowed_ones(suite) -> None:
    pair_table(suite, 'arm = "."\nbugdet = "quick"')
    line = suite.usage_error()
    assert "[tool.mechtests.pairs.real] has unknown keys ['bugdet']" in line and "use only arm, mdm, budget" in line
