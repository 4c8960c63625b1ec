"""The family registry: what each published kind of checkpoint needs to load and be read right.

A family says how to recognise a checkpoint (model_type, architectures, auto_map, weight-name
prefixes), its defaults (kind, prediction convention, mask token, how to make it attend
bidirectionally, whether a batch may hold padding) and its architecture map. `load_subject`
detects the family; every default can be overridden (`family=`, `kind=`, `prediction=`,
`mask_token_id=`, `attention=`, `arch=`). Facts come from the families' public configs and
model code (Dream-org/Dream, ML-GSAI/LLaDA, HKUNLP/DiffuLLaMA).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from mechtests.errors import MechtestsError
from mechtests.models.architectures import GPT2_TREE, LLADA_FUSED_TREE, LLADA_TREE, LLAMA_TREE, ArchitectureMap

# How a family is made to attend bidirectionally (and what its forward takes as a mask):
#   config-flag: transformers' `is_causal` config flag, set from the kind; a plain (B, T) mask.
#   additive-mask: a (B, 1, T, T) additive float mask, 0 where allowed: without it the model
#       runs causally (DiffuLLaMA's Llama code).
#   full-or-bool: the string "full" without padding, else a (B, 1, T, T) boolean mask with
#       explicit position ids (Dream's own code).
#   none: the model's code is bidirectional by itself and takes no mask (LLaDA).
#   causal: nothing is done: the model runs as its code does (to reproduce a forgotten mask).
ATTENTION_FORMS = ("config-flag", "additive-mask", "full-or-bool", "none", "causal")


@dataclass(frozen=True)
class Family:
    """One family of checkpoints.

    model_types / architectures / auto_map_classes: any match recognises the family from
    config.json; weight_prefixes: the weight names start with one of these (DiffuGPT).
    declared_mdm_only: recognised only when the user declares kind "mdm" and the config does not
    set is_causal=false itself (DiffuLLaMA is a plain Llama config).
    fused_arch: the map to use instead when the weights hold `fused_marker` (LLaDA's att_proj).
    mask_token_id: the default mask token when config.json has no mask_token_id;
    mask_from_tokenizer: else the tokenizer's mask token (DiffuGPT, DiffuLLaMA train with it). kind None: the checkpoint must declare it (a mechtests block or kind=).
    key_mapping: regex renames of weight names to the transformers class's (DiffuGPT's
    training wrapper saves GPT-2 under `denoise_model.`).
    """

    name: str
    summary: str
    arch: ArchitectureMap
    kind: str | None = None
    prediction: str = "shifted"
    mask_token_id: int | None = None
    mask_from_tokenizer: bool = False
    attention: str = "config-flag"
    allows_padding: bool = True
    remote_code: bool = False
    model_types: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    auto_map_classes: tuple[str, ...] = ()
    weight_prefixes: tuple[str, ...] = ()
    declared_mdm_only: bool = False
    fused_arch: ArchitectureMap | None = None
    fused_marker: str = ""
    key_mapping: Mapping[str, str] = field(default_factory=dict)
    user_passes: str = "nothing"

    def arch_for(self, weight_names: Sequence[str]) -> ArchitectureMap:
        if self.fused_arch is not None and any(self.fused_marker in name for name in weight_names):
            return self.fused_arch
        return self.arch


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "dream", "Dream-v0, Dream-Coder, DiffuCoder (Qwen2 tree, own code)", LLAMA_TREE,
            kind="mdm", mask_token_id=151666, attention="full-or-bool", remote_code=True,
            model_types=("dream",), architectures=("DreamModel",), auto_map_classes=("DreamModel",),
            user_passes="trust_remote_code=True",
        ),
        Family(
            "llada", "LLaDA-8B, LLaDA-1.5 (own code; separate or fused q/k/v)", LLADA_TREE,
            kind="mdm", prediction="same-position", mask_token_id=126336, attention="none", allows_padding=False,
            remote_code=True, model_types=("llada",), architectures=("LLaDAModelLM",), auto_map_classes=("LLaDAModelLM",),
            fused_arch=LLADA_FUSED_TREE, fused_marker=".att_proj.", user_passes="trust_remote_code=True",
        ),
        Family(
            "diffugpt", "DiffuGPT-s/-m (GPT-2 saved by the DiffuLLaMA training wrapper)", GPT2_TREE,
            kind="mdm", mask_from_tokenizer=True, weight_prefixes=("denoise_model.",),
            key_mapping={r"^denoise_model\.": "transformer.", r"^embed_tokens\.": "transformer.wte."},
        ),
        Family(
            "diffullama", "DiffuLLaMA (a plain Llama config; the MDM needs a 4-D additive mask)", LLAMA_TREE,
            kind="mdm", mask_from_tokenizer=True, attention="additive-mask", model_types=("llama",), declared_mdm_only=True, user_passes='kind="mdm"',
        ),
        Family("llama", "Llama, Qwen2, Mistral ARMs and MDMs built on them with is_causal=false", LLAMA_TREE,
               model_types=("llama", "qwen2", "mistral")),
        Family("gpt2", "GPT-2 ARMs and MDMs built on them with is_causal=false", GPT2_TREE, model_types=("gpt2",)),
    )
}


def _matches(family: Family, config: Mapping[str, Any], weight_names: Sequence[str], declared_kind: str | None) -> bool:
    model_type = str(config.get("model_type", "")).lower()
    architectures = set(config.get("architectures") or ())
    auto_map = config.get("auto_map") or {}
    classes = {str(v).rsplit(".", 1)[-1] for v in auto_map.values()} if isinstance(auto_map, Mapping) else set()
    if family.weight_prefixes:
        return bool(weight_names) and all(n.startswith(family.weight_prefixes + ("embed_tokens.",)) for n in weight_names)
    if family.declared_mdm_only:
        return model_type in family.model_types and declared_kind == "mdm" and config.get("is_causal", True) is not False
    return model_type in family.model_types or bool(architectures & set(family.architectures)) or bool(classes & set(family.auto_map_classes))


def detect_family(config: Mapping[str, Any], weight_names: Sequence[str], declared_kind: str | None, path: str) -> Family:
    """The first family whose rule matches, or a one-line error naming the families and how to declare one."""
    for family in FAMILIES.values():
        if _matches(family, config, weight_names, declared_kind):
            return family
    raise MechtestsError(
        f"unsupported model_type {config.get('model_type')!r} in {path}: no family matches",
        f"known families are {sorted(FAMILIES)}; pass family=NAME to load_subject, or arch=ArchitectureMap(...) "
        "(mechtests.models.ArchitectureMap) with kind= for a tree of your own",
    )


def family_named(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise MechtestsError(f"unknown family {name!r}", f"use one of {sorted(FAMILIES)}") from None
