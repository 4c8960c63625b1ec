"""The hypothesis x model matrix: parametrisation, expectations, reports, terminal summary."""

from __future__ import annotations

SUITE = '''
import mechtests


@mechtests.hypothesis(claim="scores are high", source="PAPER finding 1", expect={"arm": "holds", "mdm": "fails"})
def test_score(subject):
    value = 0.8 if subject.kind == "arm" else 0.2
    mechtests.record("score", value, ci=(value - 0.1, value + 0.1), threshold=0.5)
    assert value >= 0.5


@mechtests.hypothesis(expect={"pair": "holds"})
def test_both(pair):
    assert (pair.arm.kind, pair.mdm.kind) == ("arm", "mdm")


def test_unmarked(subject):
    assert subject.weights_sha256


def test_library_code():
    assert True
'''


def test_subject_tests_run_once_per_model_and_fill_the_matrix(suite) -> None:
    suite.write(test_suite=SUITE)
    result = suite.run("-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_score?arm? PASSED*", "*test_score?mdm? XFAIL*", "*test_both PASSED*"])
    assert suite.outcomes() == {
        "suite.score": {"arm": "holds", "mdm": "fails"},
        "suite.both": {"pair": "holds"},
        "suite.unmarked": {"arm": "holds", "mdm": "holds"},
    }
    results = suite.results()
    score = next(h for h in results["hypotheses"] if h["key"] == "suite.score")
    assert (score["claim"], score["source"]) == ("scores are high", "PAPER finding 1")
    assert score["results"]["mdm"]["expected"] == "fails" and score["results"]["mdm"]["matched"] is True
    assert score["results"]["arm"]["evidence"] == [
        {"name": "score", "value": 0.8, "ci": [0.7000000000000001, 0.9], "threshold": 0.5, "extra": {}}
    ]
    assert results["run"]["models"]["arm"] == {"path": str(suite.pytester.path / "models" / "arm"), "weights_sha256": "a" * 64,
                                               "device": None, "dtype": None}  # the fake subjects say nowhere they ran
    assert results["run"]["incomplete"] is False
    assert {p.name for p in suite.reports.iterdir()} == {"results.json", "report.html", "summary.md"}
    result.stdout.fnmatch_lines([
        "*= mechtests =*",
        "hypothesis*arm*mdm*pair",
        "suite.both *-*-*holds",
        "suite.score *holds*fails (expected)*",
    ])
    assert "| suite.score | ✅ holds | ✅ fails (expected) | - |" in (suite.reports / "summary.md").read_text()


def test_a_session_without_hypotheses_writes_no_report(suite) -> None:
    suite.write(test_plain="def test_plain():\n    assert True\n")
    result = suite.run()
    assert result.ret == 0
    assert not suite.reports.exists()
    assert "= mechtests =" not in result.stdout.str()


def test_models_load_only_when_a_test_asks(suite, monkeypatch, tmp_path) -> None:
    log = tmp_path / "loads.txt"
    monkeypatch.setenv("MECH_LOAD_LOG", str(log))
    suite.write(test_a="def test_plain():\n    assert True\n\ndef test_arm(subject):\n    assert subject\n")
    assert suite.run("-k", "plain").ret == 0
    assert not log.exists()
    assert suite.run().ret == 0
    loads = sorted(line.split()[0] for line in log.read_text().splitlines())
    assert loads == ["arm", "mdm"]  # once per model, not per test (the worker name varies under outer xdist)


def test_seed_and_report_dir_come_from_the_command_line_or_pyproject(suite) -> None:
    suite.write(test_s="def test_seed(subject, mech_seed):\n    assert mech_seed == 7\n")
    suite.pytester.makepyprojecttoml(
        '[tool.mechtests]\npair = "fake"\nseed = 7\nreport = "out"\n'
        '[tool.mechtests.pairs.fake]\narm = "a"\nmdm = "m"\n'
    )
    assert suite.run().ret == 0
    assert (suite.pytester.path / "out" / "results.json").is_file()
    result = suite.run("--mech-seed", "3", "--mech-report", "elsewhere")
    assert result.ret == 1  # the test asserts seed 7
    result.stdout.fnmatch_lines(["*rerun: pytest 'test_s.py::test_seed?arm?' --mech-seed 3*"])
    assert (suite.pytester.path / "elsewhere" / "results.json").is_file()
