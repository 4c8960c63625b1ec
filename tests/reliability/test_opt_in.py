"""The plugin stays out of other projects (issue #11 point 9): installed in the same
environment, it acts only where a project asks for it."""

from __future__ import annotations

import re

import pytest

FOREIGN_TEST = '''
import pytest

@pytest.fixture
def subject():
    return "their own subject"

@pytest.fixture
def pair():
    return ("their", "pair")

def test_uses_subject(subject):
    assert subject == "their own subject"

def test_uses_pair(pair):
    assert pair == ("their", "pair")
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args)


def test_a_foreign_project_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[project]\nname = "other"\n[tool.pytest.ini_options]\naddopts = ""\n')
    pytester.makepyfile(test_theirs=FOREIGN_TEST)
    result = run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_theirs.py::test_uses_subject PASSED*", "*test_theirs.py::test_uses_pair PASSED*"])
    assert "test_uses_subject[" not in result.stdout.str() and "= mechtests =" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_a_foreign_project_without_a_subject_fixture_is_not_parametrised(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_theirs="def test_wants_subject(subject):\n    pass\n")
    result = run(pytester)
    result.stdout.fnmatch_lines(["*test_theirs.py::test_wants_subject ERROR*"])
    assert "test_wants_subject[" not in result.stdout.str() and "= mechtests =" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_a_foreign_project_keeps_its_xdist_scheduling(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_theirs="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = run(pytester, "-n", "2")
    assert result.ret == 0
    assert "loadgroup" not in result.stdout.str() and "@mechtests" not in result.stdout.str()


def test_a_foreign_projects_broken_pyproject_is_not_ours_to_report(pytester: pytest.Pytester) -> None:
    """A TOML error outside [tool.mechtests] is pytest's (or nobody's) business, not a mechtests error."""
    pytester.path.joinpath("setup.cfg").write_text("[tool:pytest]\n")
    pytester.path.joinpath("pyproject.toml").write_text("[tool.other\nbroken = \n")
    pytester.makepyfile(test_theirs="def test_a():\n    pass\n")
    result = run(pytester)
    assert "mechtests" not in result.stdout.str() + result.stderr.str()


def test_a_conftest_opts_in_below_its_folder(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[project]\nname = "other"\n')
    opted = pytester.mkdir("mech")
    (opted / "conftest.py").write_text(
        "import pytest\nmechtests_opt_in = True\n\n@pytest.fixture(scope='session')\ndef mech_loader():\n"
        "    from types import SimpleNamespace\n    return lambda role, path: SimpleNamespace(kind=role, path=path, weights_sha256=None)\n")
    (opted / "test_m.py").write_text("def test_m(subject):\n    assert subject.kind in ('arm', 'mdm')\n")
    (pytester.path / "test_plain.py").write_text("import pytest\n\n@pytest.fixture\ndef subject():\n    return 1\n\n"
                                                 "def test_plain(subject):\n    assert subject == 1\n")
    result = run(pytester, "--mech-arm=a", "--mech-mdm=m")  # no [tool.mechtests]: only the prefixed names
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*mech/test_m.py::test_m?arm? PASSED*", "*mech/test_m.py::test_m?mdm? PASSED*",
                                 "*test_plain.py::test_plain PASSED*"])
    assert (pytester.path / "reports" / "results.json").is_file()


def test_a_decorated_test_opts_itself_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mixed='''
import mechtests

@mechtests.hypothesis(expect={"pair": "holds"})
def test_claim():
    mechtests.record("x", 1.0)

def test_plain():
    pass
''')
    result = run(pytester)
    assert result.ret == 0
    assert (pytester.path / "reports" / "results.json").is_file()
    result.stdout.fnmatch_lines(["*1 hypothesis, 1 results*"])


MECH_OPTION = re.compile(r"^\s+(--[a-z-]+)[=\s]", re.MULTILINE)


def _mechtests_help(text: str) -> str:
    """The mechtests section of `pytest --help`."""
    return text.split("mechtests: hypotheses over an ARM / MDM pair:")[1].split("\n\n")[0]


def test_a_foreign_project_gets_no_unprefixed_option_and_no_generic_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[project]\nname = "other"\n')
    pytester.makepyfile(test_theirs="def test_a():\n    pass\n")
    options = MECH_OPTION.findall(_mechtests_help(run(pytester, "--help").stdout.str()))
    assert "--mech-pair" in options and "--mech-arm" in options and "--mech-mdm" in options
    assert [o for o in options if not o.startswith("--mech-")] == []
    fixtures = run(pytester, "--fixtures").stdout.str()
    assert "mech_models" in fixtures
    assert not re.search(r"^(subject|pair|tasks)\b", fixtures, re.MULTILINE)
    assert run(pytester, "--pair=x").ret == pytest.ExitCode.USAGE_ERROR  # not ours to take in this project


def test_a_declared_project_also_takes_the_short_names_and_has_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.mechtests]\npair = "p"\n[tool.mechtests.pairs.p]\narm = "a"\nmdm = "m"\n'
                               '[tool.mechtests.pairs.q]\narm = "qa"\nmdm = "qm"\n')
    pytester.makeconftest("import pytest\n\n@pytest.fixture(scope='session')\ndef mech_loader():\n"
                          "    from types import SimpleNamespace\n"
                          "    return lambda role, path: SimpleNamespace(kind=role, path=path, weights_sha256=None)\n")
    pytester.makepyfile(test_m="def test_m(subject, pair, tasks):\n    pass\n")
    options = MECH_OPTION.findall(_mechtests_help(run(pytester, "--help").stdout.str()))
    assert {"--pair", "--arm", "--mdm", "--mech-pair"} <= set(options)
    fixtures = run(pytester, "--fixtures").stdout.str()
    assert all(re.search(rf"^{name}\b", fixtures, re.MULTILINE) for name in ("subject", "pair", "tasks"))
    result = run(pytester, "--collect-only", "--pair", "q")
    assert result.ret == 0 and "test_m[arm]" in result.stdout.str()
    assert "unknown pair 'x'" in run(pytester, "--pair", "x").stderr.str()
