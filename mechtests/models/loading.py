"""Load a checkpoint folder into a Subject, offline, treating the folder as untrusted input.

Checks run before anything is deserialised: the folder and its config exist and parse, the
weights are whole safetensors (pickle only on explicit opt-in), remote code only on explicit
request. The family registry then gives the checkpoint its defaults and architecture map;
after loading, transformers' loading report and the weights are checked (no tensor initialised
at random, no NaN), the map is validated by shapes and the attention's direction is measured
against the declared kind (mechtests.models.validate).
"""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path
from typing import Any

import torch

from mechtests.models import placement
from mechtests.models.compat import gguf_parsed_once, remote_code_compat, restore_computed_buffers
from mechtests.errors import MechtestsError
from mechtests.models.architectures import map_from
from mechtests.models.checkpoint import check_finite, check_loading_report, read_config, safetensors_names, tensor_sizes
from mechtests.models.families import ATTENTION_FORMS, Family, detect_family, family_named
from mechtests.models.identity import weights_sha256
from mechtests.models.spec import ModelSpec
from mechtests.models.subject import Subject
from mechtests.models.validate import check_direction, validate_components, validate_sites

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclasses.dataclass
class Loaded:
    """A Subject and the checks its load ran (what `mechtests inspect` shows)."""

    subject: Subject
    checks: list[str]


def load_subject(spec: ModelSpec | str | Path, **overrides: Any) -> Subject:
    """Load a Hugging Face folder (config.json, safetensors, tokenizer) as a Subject.

    `spec` is a ModelSpec or a path; keyword overrides set ModelSpec fields (kind,
    mask_token_id, prediction, trust_remote_code, allow_pickle, gguf_file, device, dtype,
    family, attention, arch).
    """
    return load_checked(spec, **overrides).subject


@dataclasses.dataclass
class Resolved:
    """What a checkpoint is, read without deserialising its weights: its spec with the family's
    defaults applied and validated, the family, its config (config.json as a dict, or the config
    object a GGUF file yields) and raw config dict, its weight files and tensor names, its tokenizer."""

    spec: ModelSpec
    family: Family
    config: Any
    raw: dict[str, Any]
    weights: list[Path]
    names: list[str]
    tokenizer: Any


def load_checked(spec: ModelSpec | str | Path, **overrides: Any) -> Loaded:
    """load_subject, keeping the list of checks that ran."""
    gguf_file = overrides.get("gguf_file", spec.gguf_file if isinstance(spec, ModelSpec) else None)
    with gguf_parsed_once(gguf_file is not None):  # config, tokenizer and weights read from one parse
        resolved = resolve_checkpoint(spec, **overrides)
        spec, family, weights, names = resolved.spec, resolved.family, resolved.weights, resolved.names
        model = _load_model(Path(spec.path), spec, family, weights, resolved.config)
    arch = map_from(spec.arch) if spec.arch is not None else family.arch_for(names)
    checks = [f"config.json parsed; {len(weights)} weight file(s) whole ({len(names) or 'not safetensors:'} tensors)"]
    check_finite(model, Path(spec.path), weights)
    checks.append("every weight finite")
    subject = Subject(model=model, tokenizer=resolved.tokenizer, spec=spec, arch=arch, weights_sha256=weights_sha256(weights),
                      family=family)
    checks += validate_components(subject)
    if spec.kind == "mdm" and not 0 <= int(spec.mask_token_id) < subject.vocab_size:  # type: ignore[arg-type]
        raise MechtestsError(
            f"mask_token_id {spec.mask_token_id} is outside the vocabulary (size {subject.vocab_size}) of {spec.path}",
            "set mask_token_id= (or config.json's mechtests block) to the MDM's real mask token id",
        )
    checks += validate_sites(subject)
    subject.direction = check_direction(subject)
    checks.append(f"attention measured {subject.direction}, as a{'n MDM' if subject.is_mdm else 'n ARM'} needs")
    return Loaded(subject, checks)


def resolve_checkpoint(spec: ModelSpec | str | Path, **overrides: Any) -> Resolved:
    """Everything load_subject decides before it loads the weights (the same options, the same
    checks and errors), for tools that must not load them (`mechtests plan`)."""
    if not isinstance(spec, ModelSpec):
        spec = ModelSpec(path=str(spec))
    unknown = set(overrides) - {f.name for f in dataclasses.fields(ModelSpec)}
    if unknown:
        raise MechtestsError(f"load_subject got unknown options {sorted(unknown)}", "see mechtests.ModelSpec for the valid ones")
    spec = dataclasses.replace(spec, **overrides)
    device = placement.resolve_device(spec.device)  # auto, cpu, cuda, cuda:N or mps; aliases such as bf16 for the dtype
    spec = dataclasses.replace(spec, device=str(device), dtype=placement.resolve_dtype(spec.dtype, device))
    folder = _check_folder(Path(spec.path), spec.gguf_file)
    weights = _weight_files(folder, spec.allow_pickle, spec.gguf_file)
    names = [n for p in weights if p.suffix == ".safetensors" for n in safetensors_names(p)]
    config = _config(folder, spec)
    raw = config if isinstance(config, dict) else config.to_dict()
    spec = spec.with_config_block(raw.get("mechtests"))
    family = _family(spec, raw, names)
    if family.remote_code and not spec.trust_remote_code:
        raise MechtestsError(
            f"{folder} is a {family.name} checkpoint, which ships its own model code",
            "pass trust_remote_code=True to load_subject if you trust its source",
        )
    tokenizer = _load_tokenizer(folder, spec)
    spec = spec.with_family(family, getattr(tokenizer, "mask_token_id", None), raw.get("mask_token_id")).validated()
    if spec.attention not in ATTENTION_FORMS:
        raise MechtestsError(f"unknown attention form {spec.attention!r}", f"use one of {ATTENTION_FORMS}")
    return Resolved(spec, family, config, raw, weights, names, tokenizer)


def _family(spec: ModelSpec, raw: dict[str, Any], names: list[str]) -> Family:
    if spec.family is not None:
        return family_named(spec.family)
    try:
        return detect_family(raw, names, spec.kind, spec.path)
    except MechtestsError:
        if spec.arch is None:
            raise
        return Family("custom", "a tree declared with arch=", map_from(spec.arch))


def _check_folder(folder: Path, gguf_file: str | None) -> Path:
    if not folder.is_dir():
        raise MechtestsError(
            f"no checkpoint folder at {folder}",
            "pass the path of a Hugging Face model folder (config.json, *.safetensors, tokenizer files)",
        )
    if gguf_file is None and not (folder / "config.json").is_file():
        raise MechtestsError(f"{folder} has no config.json", "point at the folder that save_pretrained wrote")
    return folder


def _config(folder: Path, spec: ModelSpec) -> Any:
    """config.json as a checked dict; for a GGUF file, the config object transformers derives from its
    metadata, derived once here and handed on to the model's loader (the file itself is read once
    per load: `gguf_parsed_once` in load_checked)."""
    if spec.gguf_file is None:
        return read_config(folder / "config.json")
    from transformers import AutoConfig  # start-up cost: transformers loads only when a model does

    try:
        return AutoConfig.from_pretrained(folder, gguf_file=spec.gguf_file, local_files_only=True)
    except GGUF_READ_ERRORS as err:
        raise unreadable_gguf(folder / spec.gguf_file, err) from err
    except ImportError as err:  # no gguf package: named as the fix
        raise load_failure(folder, err) from err


# What the GGUF readers (transformers' metadata reader, the gguf package) raise on a file that is
# damaged, truncated or not GGUF at all: a wrong magic, a short buffer, a shape its bytes cannot fill.
GGUF_READ_ERRORS = (ValueError, KeyError, IndexError, EOFError, struct.error)


def unreadable_gguf(path: Path, err: BaseException) -> MechtestsError:
    """The one-line error for a GGUF file the readers refused, naming the file, not the library's frame."""
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0].replace(str(path), "the file")  # named once, before
    return MechtestsError(f"{path} is not a readable GGUF file ({reason:.120})",
                          "re-download it (a partial download is the usual cause), or check the path")


def _weight_files(folder: Path, allow_pickle: bool, gguf_file: str | None = None) -> list[Path]:
    if gguf_file is not None:
        if not (folder / gguf_file).is_file():
            raise MechtestsError(f"{folder} has no {gguf_file}", "pass gguf_file= the name of a .gguf file in that folder")
        return [folder / gguf_file]
    safetensors = sorted(folder.glob("*.safetensors"))
    if safetensors:
        return safetensors
    pickles = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles and not allow_pickle:
        raise MechtestsError(
            f"{folder} has only pickle weights ({pickles[0].name}), which can run arbitrary code when loaded",
            "convert them to safetensors, or pass allow_pickle=True to load_subject if you trust the source",
        )
    if pickles:
        return pickles
    raise MechtestsError(f"{folder} has no weights (*.safetensors)", "save the model with save_pretrained into that folder")


def _auto_class(config: Any) -> Any:
    """AutoModelForCausalLM, unless the checkpoint's own code registers only AutoModel (Dream)."""
    from transformers import AutoModel, AutoModelForCausalLM  # start-up cost: transformers loads only when a model does

    auto_map = getattr(config, "auto_map", None) or {}
    if auto_map and "AutoModelForCausalLM" not in auto_map and "AutoModel" in auto_map:
        return AutoModel
    return AutoModelForCausalLM


def _load_model(folder: Path, spec: ModelSpec, family: Family, weights: list[Path], config: Any) -> torch.nn.Module:
    from transformers import AutoConfig  # start-up cost: transformers loads only when a model does
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per load floods pytest output
    gguf = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
    spread = _spread(spec, weights)
    gguf_errors = GGUF_READ_ERRORS if spec.gguf_file else ()  # a safetensors load keeps load_failure's handling
    with remote_code_compat():
        if isinstance(config, dict):
            config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=spec.trust_remote_code)
        if spec.attention == "config-flag":
            # An MDM of a transformers architecture attends bidirectionally; transformers 5 reads this flag.
            config.is_causal = spec.kind != "mdm"
        try:
            model, info = _auto_class(config).from_pretrained(
                folder,
                config=config,
                local_files_only=True,
                trust_remote_code=spec.trust_remote_code,
                use_safetensors=weights[0].suffix == ".safetensors" or None,
                attn_implementation="eager",
                dtype=DTYPES[spec.dtype],
                output_loading_info=True,
                ignore_mismatched_sizes=True,  # reported in the loading info, then refused by check_loading_report
                key_mapping=dict(family.key_mapping) or None,
                **gguf,
                **spread,
            )
        except gguf_errors as err:
            raise unreadable_gguf(folder / str(spec.gguf_file), err) from err
        except (OSError, ValueError, RuntimeError, ImportError) as err:
            raise load_failure(folder, err) from err
    check_loading_report(info, folder, weights)
    with torch.no_grad():
        restore_computed_buffers(model)
    return (model if spread else model.to(spec.device)).eval()


# How transformers names a package it needs but cannot import: "pip install accelerate" (a
# device_map without accelerate) or "install torch and gguf>=0.10.0" (a GGUF file without gguf).
_MISSING_PACKAGE = re.compile(r"pip install `?([A-Za-z][\w.-]*)|install torch and ([A-Za-z][\w.-]*(?:[<>=]=?[\w.]+)?)")


def load_failure(folder: Path, err: BaseException) -> MechtestsError:
    """The one-line error for a load transformers refused: a package it needs and cannot import
    is named as the fix (it is not the checkpoint's fault); anything else points at the checkpoint."""
    text = str(err).strip()
    first_line = text.splitlines()[0] if text else type(err).__name__
    missing = _MISSING_PACKAGE.search(text)
    if missing:
        package = missing.group(1) or missing.group(2)
        return MechtestsError(f"transformers could not load {folder}: it needs the package {package}, which is not installed",
                              f"pip install '{package}' into this environment, then run again")
    return MechtestsError(f"transformers could not load {folder}: {first_line}", "check that config.json matches the weights")


def _spread(spec: ModelSpec, weights: list[Path]) -> dict[str, Any]:
    """from_pretrained's device_map and max_memory when the model is too large for its GPU
    (mechtests.models.placement.place: spread over this worker's GPUs with accelerate), else nothing.
    Sized from the safetensors headers; a GGUF checkpoint (dequantized on the CPU) loads whole."""
    if torch.device(spec.device).type != "cuda" or any(w.suffix != ".safetensors" for w in weights):
        return {}
    n_params = sum(tensor_sizes(weights).values())
    return placement.place(spec.device, spec.dtype, n_params).load_kwargs()


def _load_tokenizer(folder: Path, spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer  # start-up cost: transformers loads only when a model does

    try:
        gguf = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
        return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=spec.trust_remote_code, **gguf)
    except (OSError, ValueError) as err:
        raise MechtestsError(
            f"{folder} has no usable tokenizer",
            "save the tokenizer into the same folder with tokenizer.save_pretrained",
        ) from err
