"""Checks that run on every Subject at load: the map's components by shape, and the attention's
direction by measurement (change a later token, see whether an earlier logit moves).

Each check returns a line for `mechtests inspect`; a failed check is a one-line MechtestsError.
The probes are deterministic (fixed token ids, no random state) and change nothing in the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mechtests.errors import MechtestsError
from mechtests.models.architectures import resolve

if TYPE_CHECKING:
    from mechtests.models.subject import Subject

PROBE_LENGTH = 8
_MOVED = 1e-5  # relative logit change that counts as "an earlier position saw a later token"


def _fix(subject: "Subject") -> str:
    return f"pass arch= (a mechtests.models.ArchitectureMap) or family= to load_subject; the map used was {subject.arch.tree!r}"


def _expect(subject: "Subject", what: str, shape: tuple[int, ...], want: tuple[int, ...]) -> None:
    if tuple(shape) != tuple(want):
        raise MechtestsError(f"{subject.path} ({subject.arch.tree}): {what} has shape {tuple(shape)}, expected {tuple(want)}", _fix(subject))


def validate_components(subject: "Subject") -> list[str]:
    """The map's modules exist and have the shapes its declared layout implies."""
    arch = subject.arch
    try:
        layers = subject.layer_modules()
        for role in ("final_norm", "unembed", "embed"):
            resolve(subject.model, getattr(arch, role))
        for block in layers:
            for path in (*arch.qkv, arch.out_proj, arch.attention, arch.mlp, arch.attn_norm, arch.mlp_norm):
                resolve(block, path)
    except AttributeError as err:
        raise MechtestsError(f"{subject.path} ({arch.tree}): missing component: {err}", _fix(subject)) from None
    if len(layers) == 0:
        raise MechtestsError(f"{subject.path} has zero layers", "check num_hidden_layers (or n_layer) in its config.json")
    declared = subject.config_shape.n_layers
    if declared is not None and declared != len(layers):
        raise MechtestsError(f"{subject.path}: config.json says {declared} layers, the model has {len(layers)}", "check config.json")
    d, H, dh = subject.d_model, subject.n_heads, subject.d_head
    q, k, v = subject.qkv_rows()
    if arch.qkv_split is not None and (q, k, v) != (H * dh, subject.n_kv_heads * dh, subject.n_kv_heads * dh):
        raise MechtestsError(
            f"{subject.path} ({arch.tree}): qkv_split {arch.qkv_split} disagrees with {H} query and {subject.n_kv_heads} "
            f"key/value heads of size {dh}", _fix(subject),
        )
    if H % subject.n_kv_heads:
        raise MechtestsError(f"{subject.path}: {H} heads cannot share {subject.n_kv_heads} key/value heads", "check the config's head counts")
    for i in range(len(layers)):
        mods = subject.qkv_modules(i)
        if arch.qkv_layout == "separate":
            for name, mod, rows in zip(("q", "k", "v"), mods, (q, k, v)):
                _expect(subject, f"layer {i} {name} projection {arch.qkv[('q', 'k', 'v').index(name)]}", mod.weight.shape, (rows, d))
        elif arch.qkv_layout == "fused":
            _expect(subject, f"layer {i} fused projection {arch.qkv[0]}", mods[0].weight.shape, (q + k + v, d))
        else:
            _expect(subject, f"layer {i} Conv1D projection {arch.qkv[0]}", mods[0].weight.shape, (d, q + k + v))
        out = subject.out_proj_module(i).weight.shape
        _expect(subject, f"layer {i} output projection {arch.out_proj}", out, (H * dh, d) if arch.weights_transposed else (d, H * dh))
        for role in ("attn_norm", "mlp_norm"):
            gain = getattr(subject.block_module(i, role), "weight", None)
            if gain is not None:
                _expect(subject, f"layer {i} {role} {getattr(arch, role)}", gain.shape, (d,))
    _expect(subject, f"embedding {arch.embed}", subject.embed_module().weight.shape[1:], (d,))
    _expect(subject, f"unembedding {arch.unembed}", subject.unembed_module().weight.shape[1:], (d,))
    return [
        f"{len(layers)} layers found, as the config says",
        f"q/k/v {arch.qkv_layout} {'+'.join(arch.qkv)}: rows {q}/{k}/{v} for {H} heads, {subject.n_kv_heads} key/value heads, d_head {dh}",
        f"output projection, norms, embedding and unembedding of width {d}",
    ]


def _probe_ids(subject: "Subject") -> torch.Tensor:
    vocab = subject.vocab_size
    return ((7 * torch.arange(PROBE_LENGTH) + 3) % vocab)[None].to(subject.device)  # (1, T)


def validate_sites(subject: "Subject") -> list[str]:
    """One traced pass: the attention and MLP outputs are (B, T, d) and the probabilities (B, H, T, T) rows summing to 1."""
    ids = _probe_ids(subject)
    got: list = []
    with torch.no_grad(), subject.nn.trace(**subject.model_inputs(ids, torch.ones_like(ids))):
        probs = subject.attention_probs(0).save()  # first: a recomputing family reads a module that runs earlier
        out = subject.attention_envoy(0).output
        got.append((out[0] if isinstance(out, tuple) else out).save())
        got.append(probs)
        out = subject.mlp_envoy(0).output
        got.append((out[0] if isinstance(out, tuple) else out).save())
    T, d = PROBE_LENGTH, subject.d_model
    _expect(subject, f"layer 0 attention output ({subject.arch.attention})", got[0].shape, (1, T, d))
    _expect(subject, "layer 0 attention probabilities", got[1].shape, (1, subject.n_heads, T, T))
    _expect(subject, f"layer 0 MLP output ({subject.arch.mlp})", got[2].shape, (1, T, d))
    rounding = max(1e-3, T * torch.finfo(got[1].dtype).eps)  # each of T probabilities rounded to the model's dtype
    if not torch.allclose(got[1].float().sum(-1).cpu(), torch.ones(1, subject.n_heads, T), atol=rounding):
        raise MechtestsError(f"{subject.path} ({subject.arch.tree}): attention probabilities do not sum to 1 over keys", _fix(subject))
    return ["attention output, MLP output and attention probabilities read with the expected shapes"]


def measure_direction(subject: "Subject") -> str:
    """'bidirectional' when changing the last token moves an earlier position's logits, else 'causal'."""
    ids = _probe_ids(subject)
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % subject.vocab_size
    ones = torch.ones_like(ids)
    with torch.no_grad():
        before = subject.model(**subject.model_inputs(ids, ones)).logits.float()  # (1, T, V)
        after = subject.model(**subject.model_inputs(changed, ones)).logits.float()
    moved = float((before[:, :-1] - after[:, :-1]).abs().max())
    return "bidirectional" if moved > _MOVED * max(1.0, float(before.abs().max())) else "causal"


def check_direction(subject: "Subject") -> str:
    """The measured direction must match the kind: an MDM that runs causally is the DiffuLLaMA trap."""
    direction = measure_direction(subject)
    if subject.is_mdm and direction == "causal":
        raise MechtestsError(
            f"{subject.path} is declared an MDM but its attention measured causal (a later token never moved an earlier "
            f"logit) with family {subject.family.name!r} and attention={subject.spec.attention!r}",
            "pass the family whose mask makes it bidirectional (family='diffullama' for a Llama MDM: a 4-D additive "
            "mask) or attention='additive-mask' to load_subject",
        )
    if not subject.is_mdm and direction == "bidirectional":
        raise MechtestsError(
            f"{subject.path} is declared an ARM but its attention measured bidirectional",
            "pass kind='mdm' (with mask_token_id= and prediction=) to load_subject, or set is_causal true in config.json",
        )
    return direction
