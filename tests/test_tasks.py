"""The bundled task generators: deterministic, batchable, and with corrupted twins that matter."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from mechtests.errors import MechtestsError
from mechtests.tasks import TASKS, TaskSet, build_tokenizer, first_occurrence_targets

N = 200


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


@pytest.fixture(scope="module")
def tasks(tok):
    return TaskSet(tok, n=N, seed=0)


def words(tok, ids):
    return tok.convert_ids_to_tokens(list(ids))


def test_registry_names_and_regimes():
    assert list(TASKS) == ["induction", "ioi", "greater_than", "countdown", "infilling"]
    regimes = {name: t.regime for name, t in TASKS.items()}
    assert regimes == {
        "induction": "prefix-dominant", "ioi": "prefix-dominant", "greater_than": "prefix-dominant",
        "countdown": "globally-constrained", "infilling": "globally-constrained",
    }


@pytest.mark.parametrize("name", list(TASKS))
def test_same_seed_same_examples_other_seed_others(tok, name):
    a = TASKS[name].generate(tok, 50, seed=3)
    assert a == TASKS[name].generate(tok, 50, seed=3)
    assert a != TASKS[name].generate(tok, 50, seed=4)
    assert a[:10] == TASKS[name].generate(tok, 10, seed=3)  # a prefix of a longer draw


@pytest.mark.parametrize("name", list(TASKS))
def test_examples_batch_without_padding(tasks, name):
    exs = tasks[name]
    for form in (exs, [e.arm or e for e in exs]):
        assert len({len(e.tokens) for e in form}) == 1
        assert len({len(e.answer_positions) for e in form}) == 1
    for e in exs:
        assert e.tokens[0] == e.corrupted[0]  # <bos>


@pytest.mark.parametrize("name", list(TASKS))
def test_wrong_token_differs_from_answer(tasks, name):
    for e in tasks[name]:
        for form in filter(None, (e, e.arm)):
            assert all(a != w for a, w in zip(form.answer, form.wrong))


@pytest.mark.parametrize("name", ["induction", "countdown", "infilling"])
def test_corrupted_twin_changes_the_answer(tasks, name):
    for e in tasks[name]:
        for form in filter(None, (e, e.arm)):
            assert len(form.corrupted) == len(form.tokens)
            changed = [form.corrupted[p] for p in form.answer_positions]
            assert tuple(changed) != form.answer
            # the context differs too, not only the answer slot
            context = [i for i in range(len(form.tokens)) if i not in form.answer_positions]
            assert any(form.tokens[i] != form.corrupted[i] for i in context)


def test_ioi_corruption_removes_the_repeated_name(tok, tasks):
    for e in tasks.ioi:
        clean, corrupt = words(tok, e.tokens), words(tok, e.corrupted)
        diff = [i for i, (a, b) in enumerate(zip(clean, corrupt)) if a != b]
        assert len(diff) == 1  # only the acting name
        introduced = {clean[2], clean[4]}
        assert clean[diff[0]] in introduced and corrupt[diff[0]] not in introduced
        answer = clean[e.answer_positions[0]]
        assert answer in introduced and answer != clean[diff[0]]


def test_greater_than_sets_and_corruption(tok, tasks):
    for e in tasks.greater_than:
        start = int(words(tok, e.tokens)[3])
        answer = int(words(tok, e.answer)[0])
        assert answer > start
        assert {int(w) for w in words(tok, e.good)} == set(range(start + 1, 100))
        assert {int(w) for w in words(tok, e.bad)} == set(range(10, start + 1))
        assert int(words(tok, e.corrupted)[3]) >= answer  # the answer loses its support


def test_induction_needs_matching_not_a_fixed_offset(tasks):
    offsets = Counter()
    for e in tasks.induction:
        query, key = first_occurrence_targets(e)
        assert e.tokens[key] == e.answer[0]
        assert e.tokens.count(e.tokens[query]) == 2  # the query token occurs exactly twice
        offsets[e.answer_positions[0] - key] += 1
    assert len(offsets) >= 8
    assert max(offsets.values()) <= 0.25 * N


def test_countdown_solution_is_unique(tok, tasks):
    for e in tasks.countdown:
        w = words(tok, e.tokens)
        nums, target = [int(x) for x in w[2:5]], int(w[6])
        pairs = [(a, b) for i, a in enumerate(nums) for b in nums[i + 1:] if a + b == target]
        assert pairs == [tuple(int(x) for x in words(tok, e.answer))]


def test_infilling_needs_both_sides(tok, tasks):
    for e in tasks.infilling:
        w = words(tok, e.tokens)
        slot = e.answer_positions[0]
        assert e.right_context and slot < len(e.tokens) - 1
        facts = dict(zip(w[1:slot - 1:2], w[2:slot - 1:2]))  # animal -> colour, left of the slot
        assert w[slot] == facts[w[slot + 2]]  # the animal to the right picks the colour
        assert e.arm is not None and e.arm.answer == e.answer
        assert e.arm.answer_positions[0] == len(e.arm.tokens) - 1  # the ARM form ends with the slot


def test_taskset_is_lazy_and_named(tok):
    ts = TaskSet(tok, n=5, seed=1)
    assert list(ts) == list(TASKS) and len(ts) == 5
    assert ts._cache == {}
    assert ts.induction is ts["induction"] and len(ts.countdown) == 5
    with pytest.raises(MechtestsError, match="unknown task 'nope'"):
        ts["nope"]


def test_tokenizer_round_trip_and_string_prompts(tok, tasks, tmp_path):
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    e = tasks.ioi[0]
    text = tok.decode(e.tokens[1:])  # without <bos>: the tokenizer adds it
    assert tuple(loaded(text).input_ids) == e.tokens
    assert loaded.mask_token == "<mask>" and loaded.mask_token_id == tok.mask_token_id
    assert {loaded.pad_token, loaded.bos_token, loaded.eos_token, loaded.unk_token} == {"<pad>", "<bos>", "<eos>", "<unk>"}


def test_foreign_tokenizer_is_one_line_error():
    vocab = {"<unk>": 0, "hello": 1}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    foreign = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    with pytest.raises(MechtestsError) as info:
        TASKS["ioi"].generate(foreign, 3)  # a bundled generator; TaskSet would pick the natural-language ones
    message = str(info.value)
    assert "\n" not in message and "ioi" in message and "build_tokenizer" in message


# sha256 (first 16 hex digits) of each bundled task's examples, n=1000, as generated before the
# natural-language generators arrived (commit bcc37d1): the bundled pair's examples, and so its
# verdicts and numbers, must not move.
BUNDLED_HASHES = {
    0: {"induction": "232e2a46830474e5", "ioi": "e05f1f1672a729ca", "greater_than": "81c57d96d4739b20",
        "countdown": "e363a7ccc98b8e24", "infilling": "a6f6cb998a3bc9cb"},
    1: {"induction": "9fa787dba6a790b7", "ioi": "b0e7de85bc980231", "greater_than": "390af43bbb4c42eb",
        "countdown": "184497d35b93296c", "infilling": "cb4a9596ddda9820"},
}


def _canonical(e):
    return None if e is None else [
        list(e.tokens), list(e.answer_positions), list(e.wrong), list(e.corrupted), e.right_context,
        None if e.good is None else list(e.good), None if e.bad is None else list(e.bad), _canonical(e.arm),
    ]


@pytest.mark.parametrize("seed", sorted(BUNDLED_HASHES))
def test_bundled_examples_are_byte_identical_to_before(seed):
    pair_tokenizer = AutoTokenizer.from_pretrained(Path(__file__).resolve().parents[1] / "fixtures" / "tiny-pair" / "arm")
    tasks = TaskSet(pair_tokenizer, n=1000, seed=seed)
    assert tasks.generators is TASKS
    got = {name: hashlib.sha256(json.dumps([_canonical(e) for e in tasks[name]]).encode()).hexdigest()[:16] for name in tasks}
    assert got == BUNDLED_HASHES[seed]
    assert all(tasks.draw(name).dropped == 0 and e.after_tie is None for name in tasks for e in tasks[name])


def test_bad_n_is_an_error(tok):
    with pytest.raises(MechtestsError, match="n=0"):
        TASKS["ioi"].generate(tok, 0)
