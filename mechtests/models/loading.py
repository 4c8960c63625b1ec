"""Load a checkpoint folder into a Subject, offline, treating the folder as untrusted input.

Checks run before anything is deserialised: the folder and its config exist, the weights are
safetensors (pickle only on explicit opt-in), remote code only on explicit request. After
loading, the standard components are validated so that a wrong map fails here, with a message
naming what is missing, rather than deep inside a measurement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from mechtests.errors import MechtestsError
from mechtests.models.architectures import ArchitectureMap, architecture_for, resolve
from mechtests.models.spec import ModelSpec
from mechtests.models.subject import Subject

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load_subject(spec: ModelSpec | str | Path, **overrides: Any) -> Subject:
    """Load a Hugging Face folder (config.json, safetensors, tokenizer) as a Subject.

    `spec` is a ModelSpec or a path; keyword overrides set ModelSpec fields (kind,
    mask_token_id, prediction, trust_remote_code, allow_pickle, device, dtype).
    """
    if not isinstance(spec, ModelSpec):
        spec = ModelSpec(path=str(spec))
    unknown = set(overrides) - {f.name for f in dataclasses.fields(ModelSpec)}
    if unknown:
        raise MechtestsError(f"load_subject got unknown options {sorted(unknown)}", "see mechtests.ModelSpec for the valid ones")
    spec = dataclasses.replace(spec, **overrides)
    folder = _check_folder(Path(spec.path), spec.gguf_file)
    weights = _weight_files(folder, spec.allow_pickle, spec.gguf_file)
    raw_config = _raw_config(folder, spec)
    spec = spec.with_config_block(raw_config.get("mechtests")).validated()
    arch = architecture_for(str(raw_config.get("model_type")), spec.path)
    if spec.dtype not in DTYPES:
        raise MechtestsError(f"unknown dtype {spec.dtype!r}", f"use one of {sorted(DTYPES)}")

    model = _load_model(folder, spec, weights)
    tokenizer = _load_tokenizer(folder, spec)
    subject = Subject(model=model, tokenizer=tokenizer, spec=spec, arch=arch, weights_sha256=weights_sha256(weights))
    validate_components(subject)
    if spec.kind == "mdm" and not 0 <= int(spec.mask_token_id) < subject.vocab_size:  # type: ignore[arg-type]
        raise MechtestsError(
            f"mask_token_id {spec.mask_token_id} is outside the vocabulary (size {subject.vocab_size}) of {spec.path}",
            "set the MDM's real mask token id",
        )
    return subject


def _check_folder(folder: Path, gguf_file: str | None) -> Path:
    if not folder.is_dir():
        raise MechtestsError(
            f"no checkpoint folder at {folder}",
            "pass the path of a Hugging Face model folder (config.json, *.safetensors, tokenizer files)",
        )
    if gguf_file is None and not (folder / "config.json").is_file():
        raise MechtestsError(f"{folder} has no config.json", "point at the folder that save_pretrained wrote")
    return folder


def _raw_config(folder: Path, spec: ModelSpec) -> dict[str, Any]:
    """config.json as a dict; for a GGUF file, the config transformers derives from its metadata."""
    if spec.gguf_file is None:
        return json.loads((folder / "config.json").read_text())
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder, gguf_file=spec.gguf_file, local_files_only=True).to_dict()


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
            "convert them to safetensors, or pass allow_pickle=True (--mech-allow-pickle) if you trust the source",
        )
    if pickles:
        return pickles
    raise MechtestsError(f"{folder} has no weights (*.safetensors)", "save the model with save_pretrained into that folder")


def weights_sha256(files: list[Path]) -> str:
    """One sha256 over the weight files' bytes, in name order: the model's identity in reports and caches."""
    digest = hashlib.sha256()
    for path in sorted(files):
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _load_model(folder: Path, spec: ModelSpec, weights: list[Path]) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per load floods pytest output
    gguf = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
    config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=spec.trust_remote_code, **gguf)
    # An MDM of a transformers architecture attends bidirectionally; transformers 5 reads this flag.
    config.is_causal = spec.kind != "mdm"
    try:
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            config=config,
            local_files_only=True,
            trust_remote_code=spec.trust_remote_code,
            use_safetensors=weights[0].suffix == ".safetensors" or None,
            attn_implementation="eager",
            dtype=DTYPES[spec.dtype],
            **gguf,
        )
    except (OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MechtestsError(f"transformers could not load {folder}: {first_line}", "check the folder's files") from err
    return model.to(spec.device).eval()


def _load_tokenizer(folder: Path, spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        gguf = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
        return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=spec.trust_remote_code, **gguf)
    except (OSError, ValueError) as err:
        raise MechtestsError(
            f"{folder} has no usable tokenizer",
            "save the tokenizer into the same folder with tokenizer.save_pretrained",
        ) from err


def validate_components(subject: Subject) -> None:
    """Check that the standard components exist and have the expected shapes."""
    arch: ArchitectureMap = subject.arch
    where = f"{subject.path} ({arch.family})"
    try:
        layers = subject.layer_modules()
        resolve(subject.model, arch.final_norm)
        unembed = subject.unembed_module()
        for i, layer in enumerate(layers):
            for name in (arch.mlp, arch.attn_norm, arch.mlp_norm, *(f"{arch.attention}.{q}" for q in arch.qkv)):
                resolve(layer, name)
            out_proj = subject.out_proj_module(i)
    except AttributeError as err:
        raise MechtestsError(f"{where}: missing component: {err}", f"fix the ArchitectureMap for {arch.family!r}") from None
    expected_layers = getattr(subject.model.config, "num_hidden_layers", None) or getattr(subject.model.config, "n_layer", None)
    if expected_layers is not None and len(layers) != int(expected_layers):
        raise MechtestsError(f"{where}: config says {expected_layers} layers, found {len(layers)}", "check config.json")
    w = out_proj.weight
    in_features = w.shape[0] if arch.out_proj_transposed else w.shape[1]
    out_features = w.shape[1] if arch.out_proj_transposed else w.shape[0]
    if in_features != subject.n_heads * subject.d_head or out_features != subject.d_model:
        raise MechtestsError(
            f"{where}: attention output projection is {tuple(w.shape)}, expected n_heads*d_head="
            f"{subject.n_heads * subject.d_head} in and d_model={subject.d_model} out",
            "set out_proj_transposed or head_dim correctly",
        )
    if unembed.weight.shape[1] != subject.d_model:
        raise MechtestsError(f"{where}: unembedding has width {unembed.weight.shape[1]}, expected {subject.d_model}", "check the map's unembed")
