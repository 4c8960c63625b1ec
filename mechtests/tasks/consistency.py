"""Pair consistency, checked once at session start, before any test runs.

Pair-level hypotheses feed the MDM the token ids of examples posed in the ARM's tokenizer and
compare the two models' graphs component by component. Both are silently wrong when the two
checkpoints disagree, so a two-model run stops first, with one line naming the first
difference, when:
- a token id that a generated task example uses means another token to the MDM (the MDM may
  add tokens beyond the ARM's vocabulary, such as its mask token, but not reuse an id), or is
  the MDM's mask token;
- a token id that a task example uses has no row in a model's embedding (its config's
  vocab_size): an MDM saved with a smaller embedding than the tokenizer it ships would
  otherwise stop every test in an IndexError;
- the two configs differ in the layer/head shape pair-level measurements assume (layers,
  attention heads, key/value heads, hidden size), read as mechtests.models.shape reads them
  for every family (LLaDA's n_layers as Llama's num_hidden_layers).

Cheap by design: it reads tokenizers and configs, never weights, and poses the examples the
run would pose anyway (the bundled pair: well under a second). What it cannot read it leaves
to the loader, which reports a broken checkpoint in the tests that need it. The plugin runs it
at session start for a two-model run whose checkpoints are there (mechtests.plugin.
pytest_sessionstart), and `mechtests eval` before it loads the pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoTokenizer

from mechtests.errors import MechtestsError
from mechtests.models.shape import SIZE_NAMES, ConfigShape
from mechtests.run.pairs import PairPaths
from mechtests.tasks import TaskSet

# Sizes (mechtests.models.shape.ConfigShape fields, read whatever a family calls them) that
# pair-level measurements assume equal.
SHAPE = ("n_layers", "n_heads", "n_kv_heads", "d_model")


def check_pair(pair: PairPaths, options: dict[str, dict[str, Any]], n: int, seed: int) -> None:
    """Raise MechtestsError naming the first difference between the pair's two checkpoints."""
    if not all(Path(pair.path(role)).is_dir() for role in ("arm", "mdm")):
        return  # a missing checkpoint is the loader's to report, in the tests that need it
    configs = {role: _config(pair.path(role), options[role]) for role in ("arm", "mdm")}
    if all(c is not None for c in configs.values()):
        shapes = {role: ConfigShape.of(c) for role, c in configs.items()}
        for name in SHAPE:
            values = {role: getattr(shape, name) for role, shape in shapes.items()}
            if values["arm"] != values["mdm"]:
                raise MechtestsError(
                    f"the pair's models differ in {name} ({' / '.join(SIZE_NAMES[name])}): ARM {values['arm']}, MDM {values['mdm']} "
                    f"({pair.path('arm')} vs {pair.path('mdm')})",
                    "pair an MDM with the ARM it was post-trained from (--arm / --mdm, or the pair table)",
                )
    tokenizers = {role: _tokenizer(pair.path(role), options[role]) for role in ("arm", "mdm")}
    if any(t is None for t in tokenizers.values()):
        return
    mask = options["mdm"].get("mask_token_id")
    if mask is None and configs["mdm"] is not None:
        mask = (getattr(configs["mdm"], "mechtests", None) or {}).get("mask_token_id")
    used = task_ids(tokenizers["arm"], n=n, seed=seed)
    first = first_token_difference(tokenizers["arm"], tokenizers["mdm"], used, mask_token_id=mask)
    if first is not None:
        raise MechtestsError(
            f"the pair's tokenizers disagree: {first}",
            "pair an MDM with the ARM it was post-trained from, whose tokenizer it extends (--arm / --mdm, or the pair table)",
        )
    for role, config in configs.items():
        beyond = _beyond_embedding(used, config)
        if beyond is not None:
            raise MechtestsError(
                f"the {role.upper()}'s embedding is smaller than its tokenizer: {beyond} ({pair.path(role)})",
                f"give the {role.upper()} an embedding for its whole tokenizer (resize_token_embeddings(len(tokenizer)) "
                "before saving it), or pair the checkpoints whose tokenizer and weights belong together",
            )


def task_ids(tokenizer: Any, n: int, seed: int) -> dict[int, str]:
    """token id -> where it is first used, in order of first use, over the task examples posed in
    `tokenizer`. Tasks the tokenizer cannot pose are left to the tests that need them."""
    tasks = TaskSet(tokenizer, n=n, seed=seed)
    first_use: dict[int, str] = {}
    for name in tasks:
        try:
            examples = tasks[name]
        except MechtestsError:
            continue
        for index, example in enumerate(examples):
            for token_id in _ids(example):
                first_use.setdefault(token_id, f"task {name}, example {index}")
    return first_use


def first_token_difference(arm_tokenizer: Any, mdm_tokenizer: Any, used: dict[int, str], mask_token_id: int | None) -> str | None:
    """Where the task ids `used` (task_ids, in the ARM's tokenizer) first mean something else to
    the MDM's, as one phrase; None when they agree."""
    for token_id, where in used.items():  # each id once: the check costs a vocabulary, not the examples
        if token_id == mask_token_id:
            return f"{where}: id {token_id} is the MDM's mask token"
        arm_token = arm_tokenizer.convert_ids_to_tokens(token_id)
        mdm_token = mdm_tokenizer.convert_ids_to_tokens(token_id)
        if arm_token != mdm_token:
            return f"{where}: id {token_id} is {arm_token!r} to the ARM but {mdm_token!r} to the MDM"
    return None


def _beyond_embedding(used: dict[int, str], config: Any) -> str | None:
    """The largest task id that a model's embedding (config's vocab_size rows) has no row for, as
    one phrase; None when every id has one, or the config does not say its size."""
    rows = ConfigShape.of(config).vocab if config is not None else None
    if rows is None or not used or max(used) < rows:
        return None
    largest = max(used)
    return f"{used[largest]} uses token id {largest}, but its vocab_size is {rows} (ids 0-{rows - 1})"


def _ids(example: Any) -> list[int]:
    """Every token id an example feeds or reads (tokens, corrupted twin, wrong answers, the
    good/bad sets of a probability-mass metric, and the ARM's form of the question), once each."""
    ids: list[int] = []
    for field in ("tokens", "corrupted", "wrong", "good", "bad"):
        ids.extend(int(i) for i in getattr(example, field, None) or ())
    if getattr(example, "arm", None) is not None:
        ids.extend(_ids(example.arm))
    return list(dict.fromkeys(ids))


def _config(folder: str, options: dict[str, Any]) -> Any:
    """The checkpoint's transformers config, or None when it cannot be read here (the loader says why)."""
    try:
        return AutoConfig.from_pretrained(folder, gguf_file=options.get("gguf_file"),
                                          trust_remote_code=bool(options.get("trust_remote_code")), local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure to read is the loader's to report, with its one-line error
        return None


def _tokenizer(folder: str, options: dict[str, Any]) -> Any:
    """The checkpoint's tokenizer, or None when it cannot be read here (the loader says why)."""
    try:
        return AutoTokenizer.from_pretrained(folder, gguf_file=options.get("gguf_file"),
                                             trust_remote_code=bool(options.get("trust_remote_code")), local_files_only=True)
    except Exception:  # noqa: BLE001 - see _config
        return None
