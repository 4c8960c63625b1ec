"""Pair tables, model locations, one-model pairs, run budgets and the pair consistency check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from mechtests.run import budget as run_budget
from mechtests.errors import MechtestsError
from mechtests.run.pairs import check_role, locate, resolve_pair
from mechtests.run.settings import resolve
from mechtests.tasks.consistency import check_pair, first_token_difference, task_ids

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "fixtures" / "tiny-pair"


def _settings(**pairs) -> dict:
    return {"pairs": pairs}


# --- pair tables ---------------------------------------------------------------------------------
def test_a_model_table_carries_load_options_and_the_short_form_stays(tmp_path) -> None:
    settings = _settings(p={
        "arm": "models/arm",
        "mdm": {"path": "models/mdm", "kind": "mdm", "mask_token_id": 7, "prediction": "shifted", "dtype": "bfloat16",
                "device": "cpu", "allow_pickle": True, "trust_remote_code": False},
        "budget": "quick",
    })
    pair = resolve_pair(settings, tmp_path, name="p")
    assert pair.arm == str(tmp_path / "models" / "arm") and pair.load_options("arm") == {}
    assert pair.mdm == str(tmp_path / "models" / "mdm")
    assert pair.load_options("mdm") == {"kind": "mdm", "mask_token_id": 7, "prediction": "shifted", "dtype": "bfloat16",
                                        "device": "cpu", "allow_pickle": True, "trust_remote_code": False}
    assert pair.label == "p" and pair.roles == ("arm", "mdm")


def test_a_model_table_may_override_the_family_its_attention_and_its_architecture_map(tmp_path) -> None:
    arch = {"tree": "mine", "layers": "model.layers", "qkv": ["q", "k", "v"], "out_proj": "o", "attention": "attn", "mlp": "mlp",
            "attn_norm": "n1", "mlp_norm": "n2", "embed": "model.embed", "final_norm": "model.norm", "unembed": "lm_head"}
    settings = _settings(p={"mdm": {"path": "m", "kind": "mdm", "family": "diffullama", "attention": "additive-mask", "arch": arch}})
    pair = resolve_pair(settings, tmp_path, name="p")
    assert pair.load_options("mdm") == {"kind": "mdm", "family": "diffullama", "attention": "additive-mask", "arch": arch}


def test_a_gguf_path_names_its_folder_and_file_and_reads_as_its_role(tmp_path) -> None:
    pair = resolve_pair(_settings(g={"arm": {"path": "w/model.Q4.gguf"}}), tmp_path, name="g")
    assert pair.arm == str(tmp_path / "w") and pair.load_options("arm") == {"gguf_file": "model.Q4.gguf", "kind": "arm"}
    assert pair.location("arm") == str(tmp_path / "w" / "model.Q4.gguf")  # what --arm= would say
    assert locate("x/y.gguf", tmp_path, "--arm") == (str(tmp_path / "x"), {"gguf_file": "y.gguf"})
    with pytest.raises(MechtestsError, match="names two GGUF files"):
        resolve_pair(_settings(g={"arm": {"path": "w/a.gguf", "gguf_file": "b.gguf"}}), tmp_path, name="g")


def test_a_pkg_path_lies_inside_the_installed_package_without_importing_it(tmp_path) -> None:
    folder, options = locate("pkg:pytest/some/file.gguf", tmp_path, "--arm")
    import pytest as package

    assert folder == str(Path(package.__file__).parent / "some") and options == {"gguf_file": "file.gguf"}
    with pytest.raises(MechtestsError, match=r"--arm: package 'no_such_package_xyz' .* is not installed; install"):
        locate("pkg:no_such_package_xyz/m.gguf", tmp_path, "--arm")
    with pytest.raises(MechtestsError, match="does not name a package"):
        locate("pkg:not-a-module/m.gguf", tmp_path, "--arm")


@pytest.mark.parametrize("table, words", [
    ({"arm": {"kind": "arm"}}, r"\[tool.mechtests.pairs.p.arm\] has no path"),
    ({"arm": {"path": "a", "colour": "red"}}, r"unknown keys \['colour'\]"),
    ({"arm": {"path": "a", "mask_token_id": "7"}}, "mask_token_id must be an integer, got '7'"),
    ({"arm": {"path": "a", "allow_pickle": "yes"}}, r"allow_pickle must be a boolean \(true or false\)"),
    ({"arm": {"path": "a", "mask_token_id": True}}, "mask_token_id must be an integer, got True"),
    ({"arm": {"path": "a", "arch": "llama"}}, "arch must be a table, got 'llama'; write arch as a table"),
    ({"arm": {"path": "a", "family": 3}}, "family must be a string, got 3"),
    ({"arm": 3}, "must be a path or a table"),
    ({"arm": "none"}, "declares no model"),
    ({"budget": "quick"}, "must declare arm, mdm or both"),
])
def test_a_malformed_pair_table_is_a_one_line_error(tmp_path, table, words) -> None:
    with pytest.raises(MechtestsError, match=words) as info:
        resolve_pair(_settings(p=table), tmp_path, name="p")
    assert "\n" not in str(info.value) and "; " in str(info.value)  # problem; fix


# --- the command line over the pair table ---------------------------------------------------------
def test_the_command_line_replaces_a_whole_model_and_results_say_what_ran(tmp_path) -> None:
    settings = _settings(p={"arm": {"path": "a", "dtype": "float16"}, "mdm": {"path": "m", "kind": "mdm", "mask_token_id": 3}})
    pair = resolve_pair(settings, tmp_path, name="p", mdm="other", invocation_dir=tmp_path / "cwd")
    assert pair.mdm == str(tmp_path / "cwd" / "other") and pair.load_options("mdm") == {}  # the table's options were for another model
    assert pair.load_options("arm") == {"dtype": "float16"}
    assert pair.label == f"p with mdm={tmp_path / 'cwd' / 'other'}"
    both = resolve_pair({}, tmp_path, arm="x", mdm="y", invocation_dir=tmp_path)
    assert both.name is None and both.label.startswith("arm=") and ", mdm=" in both.label


def test_none_leaves_a_model_out_for_a_one_model_run(tmp_path) -> None:
    settings = _settings(p={"arm": "a", "mdm": "m"})
    pair = resolve_pair(settings, tmp_path, name="p", mdm="none")
    assert pair.roles == ("arm",) and pair.absent("mdm") and not pair.absent("arm")
    assert pair.label == "p with mdm=none"
    assert pair.location("mdm") == "none" and pair.location("arm") == str(tmp_path / "a")
    one = resolve_pair(_settings(s={"arm": "a"}), tmp_path, name="s")
    assert one.roles == ("arm",) and one.absent("mdm") and one.label == "s"
    with pytest.raises(MechtestsError, match="--arm=none and --mdm=none leaves no model to run"):  # issue #27
        resolve_pair(settings, tmp_path, name="p", arm="none", mdm="none")


def test_a_model_of_the_wrong_kind_is_named() -> None:
    class Model:
        kind, path = "mdm", "/m"

    assert check_role("mdm", Model()) is not None
    with pytest.raises(MechtestsError, match="the pair's arm checkpoint /m is of kind 'mdm'; pass an ARM with --arm"):
        check_role("arm", Model())


# --- budgets -----------------------------------------------------------------------------------------
def test_the_default_budget_is_the_bundled_settings() -> None:
    default = run_budget.DEFAULT
    assert (default.candidates, default.pool_size, default.ig_steps, default.bootstrap_draws, default.control_draws) == (
        1000, 500, 8, 200, 10)
    assert (default.faithfulness_target, default.fixed_k) == (0.8, None) and run_budget.active() is default


def test_the_paper_budget_fixes_k_and_measures_mibs_ten_points() -> None:
    paper = run_budget.BUDGETS["paper"]
    assert paper.fixed_k == 1000 and paper.faithfulness_grid == (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
    with run_budget.using(paper):
        assert run_budget.active() is paper
    assert run_budget.active() is run_budget.DEFAULT


def test_the_budget_comes_from_the_command_line_then_the_pair_then_the_project(tmp_path) -> None:
    def budget(cli: str | None, pair: object, project: str | None) -> run_budget.Budget:
        table = {"pair": "p", "pairs": {"p": {"arm": "a", **({"budget": pair} if pair is not None else {})}}}
        given = {"budget": (cli, "--mech-budget")} if cli is not None else {}
        return resolve(given, {**table, **({"budget": project} if project is not None else {})}, tmp_path, tmp_path).budget

    assert budget(None, None, None) is run_budget.DEFAULT
    assert budget(None, None, "paper").name == "paper"
    assert budget(None, "quick", "paper").name == "quick"
    assert budget("paper", "quick", None).name == "paper"
    for bad in ("fast", 3):
        with pytest.raises(MechtestsError, match=rf"\[tool.mechtests.pairs.p\] budget: unknown budget {bad!r}; use one of default, paper, quick"):
            budget(None, bad, None)
    assert run_budget.DEFAULT.as_dict()["name"] == "default"


def test_a_budget_is_a_cache_parameter_through_the_values_it_sets() -> None:
    quick = run_budget.BUDGETS["quick"]
    assert dataclasses.replace(quick, name="other") != quick  # compared by value, like the cache key
    assert quick.ig_steps != run_budget.DEFAULT.ig_steps and quick.control_draws != run_budget.DEFAULT.control_draws


# --- pair consistency ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_tokenizer():
    return AutoTokenizer.from_pretrained(TINY / "arm")


def test_the_bundled_pair_is_consistent(tiny_tokenizer) -> None:
    pair = resolve_pair(_settings(t={"arm": str(TINY / "arm"), "mdm": str(TINY / "mdm")}), ROOT, name="t")
    check_pair(pair, {"arm": {}, "mdm": {}}, n=100, seed=0)  # raises on a difference


def test_a_token_id_that_means_another_token_is_the_first_difference(tiny_tokenizer, tmp_path) -> None:
    other = AutoTokenizer.from_pretrained(TINY / "arm")
    vocab = other.get_vocab()
    swapped = {"s0": vocab["s1"], "s1": vocab["s0"]}
    other.backend_tokenizer.model = type(other.backend_tokenizer.model)(
        vocab={**vocab, **swapped}, unk_token=other.unk_token)
    first = first_token_difference(tiny_tokenizer, other, task_ids(tiny_tokenizer, n=20, seed=0), mask_token_id=None)
    assert first is not None and first.startswith("task induction, example ") and "to the ARM but" in first


def test_the_mask_token_among_the_examples_is_a_difference(tiny_tokenizer) -> None:
    used = tiny_tokenizer.convert_tokens_to_ids("s0")
    first = first_token_difference(tiny_tokenizer, tiny_tokenizer, task_ids(tiny_tokenizer, n=50, seed=0), mask_token_id=used)
    assert first is not None and f"id {used} is the MDM's mask token" in first


def test_models_of_different_shapes_are_refused_before_any_test(tmp_path) -> None:
    import json
    import shutil

    shutil.copytree(TINY / "mdm", tmp_path / "mdm", ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((tmp_path / "mdm" / "config.json").read_text())
    config["num_hidden_layers"] = 6
    (tmp_path / "mdm" / "config.json").write_text(json.dumps(config))
    pair = resolve_pair({}, tmp_path, arm=str(TINY / "arm"), mdm=str(tmp_path / "mdm"))
    with pytest.raises(MechtestsError, match=r"the pair's models differ in n_layers \(num_hidden_layers / n_layer / n_layers\): ARM 4, MDM 6"):
        check_pair(pair, {"arm": {}, "mdm": {}}, n=10, seed=0)


def test_the_plugin_stops_an_inconsistent_pair_before_any_test(pytester, tmp_path) -> None:
    import json
    import shutil

    shutil.copytree(TINY / "mdm", tmp_path / "mdm")
    config = json.loads((tmp_path / "mdm" / "config.json").read_text())
    config["num_attention_heads"] = 8
    (tmp_path / "mdm" / "config.json").write_text(json.dumps(config))
    pytester.makepyprojecttoml("[tool.mechtests]\n")
    pytester.makepyfile(test_never='''
import mechtests


@mechtests.hypothesis(expect={"pair": "holds"})
def test_pair(pair):
    raise RuntimeError("must not run")
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--arm={TINY / 'arm'}", f"--mdm={tmp_path / 'mdm'}")
    assert result.ret == 4
    errors = [line for line in result.stderr.lines if "mechtests:" in line]
    assert len(errors) == 1 and "the pair's models differ in n_heads (num_attention_heads / n_head / n_heads): ARM 4, MDM 8" in errors[0]
    assert "must not run" not in result.stdout.str() and not (pytester.path / "reports").exists()
