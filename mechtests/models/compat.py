"""Workarounds for third-party packages, kept in one place.

nnsight 0.8 adds a `save` attribute to `object`; anyio's TypedAttributeSet subclasses defined
after that fail with "Attribute 'save' is missing its type annotation". Importing anyio's
abstract classes before nnsight keeps pytest (whose anyio plugin imports them lazily) working.

`remote_code_compat` lets model code that a checkpoint ships for transformers 4.x (Dream's,
LLaDA's) import and run under transformers 5. Each breakage it handles, with the test that
exercises it the way 4.x-era code does (tests/families/test_compat.py):
1. ROPE_INIT_FUNCTIONS has no "default" entry (transformers 5 moved plain RoPE into each model):
   `ROPE_INIT_FUNCTIONS["default"](config, device)` -> (inverse frequencies, scaling 1.0).
2. `transformers.modeling_attn_mask_utils` does not exist in transformers 5.0-5.24: importing
   AttentionMaskConverter from it succeeds; using it raises an error that names the cause
   (5.25 ships the module again, deprecated: then it is left as it is).
3. transformers 5 calls `model.tie_weights(missing_keys=..., recompute_mapping=...)`; a 4.x
   override `def tie_weights(self)` gets those keywords dropped.
4. `_tied_weights_keys` was a list of output-embedding names; transformers 5 expects a
   {target: source} dict and fails on a list ('list' object has no attribute 'keys'): a list
   becomes {each name: the input embedding's weight}, as 4.x read it.
5. transformers 5 builds a model on the meta device and fills the buffers that are not in the
   checkpoint (non-persistent ones, such as RoPE's `inv_freq`) with uninitialised memory; its
   own models restore theirs in `_init_weights`, 4.x model code does not, so RoPE reads garbage
   (huggingface/transformers#48892, open). `restore_computed_buffers` recomputes them.
Remove each when the families' published code is updated for transformers 5.

`gguf_parsed_once`: transformers 5.24 reads a GGUF file three times per load (config,
tokenizer, weights: each builds a gguf.GGUFReader, 3.4 s for SmolLM2's 49k-token vocabulary)
and, mapping the weights, rebuilds gguf's tensor-name table for every submodule (397 times on
SmolLM2, 16 ms each). Inside it, each is built once: a SmolLM2 load takes 11 s, not 24.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading
import types
from typing import Any, Iterator

import torch

from mechtests.errors import MechtestsError
from mechtests.models.shape import ConfigShape


def import_nnsight():  # noqa: ANN201 - returns the nnsight module
    try:  # anyio's abstract classes first: nnsight breaks those defined after it (module docstring)
        import anyio.abc  # noqa: F401
    except ImportError:
        pass
    import nnsight  # start-up cost: nnsight loads only when a model does

    return nnsight


def _default_rope(config: Any, device: Any = None, seq_len: int | None = None, **kwargs: Any) -> tuple[torch.Tensor, float]:
    """Plain RoPE frequencies, 1 / base^(2i / dim), as 4.x's "default" entry returned them."""
    params = getattr(config, "rope_parameters", None) or {}
    base = kwargs.get("base") or getattr(config, "rope_theta", None) or params.get("rope_theta", 10000.0)
    head_dim = ConfigShape.of(config).need("d_head")
    dim = kwargs.get("dim") or int(head_dim * getattr(config, "partial_rotary_factor", 1.0))
    inv_freq = 1.0 / (float(base) ** (torch.arange(0, dim, 2, dtype=torch.int64).float().to(device) / dim))
    return inv_freq, 1.0


class _RemovedAttentionMaskConverter:
    """Stands in for transformers 4.x's AttentionMaskConverter so that importing it works."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            "this model's code uses transformers 4.x's AttentionMaskConverter, which transformers 5 removed; "
            "pass its attention mask as the family expects (mechtests: Subject.model_inputs)"
        )


def _adapt_4x_class(cls: type) -> None:
    """Fix a model class defined by 4.x-era remote code (breakages 3 and 4)."""
    own_tie = cls.__dict__.get("tie_weights")
    if own_tie is not None:
        params = inspect.signature(own_tie).parameters.values()
        if not any(p.kind is p.VAR_KEYWORD or p.name == "missing_keys" for p in params):
            cls.tie_weights = lambda self, *args, **kwargs: own_tie(self)  # type: ignore[attr-defined]
    targets = cls.__dict__.get("_tied_weights_keys")
    if isinstance(targets, (list, tuple)):
        inherited_post_init = cls.post_init  # type: ignore[attr-defined]

        def post_init(self: Any) -> None:
            # Built once the modules exist: each listed target tied to the input embedding, as in 4.x.
            weight = self.get_input_embeddings().weight
            source = next(n for n, p in self.named_parameters(remove_duplicate=False) if p is weight)
            self._tied_weights_keys = {target: source for target in targets}
            inherited_post_init(self)

        cls.post_init = post_init  # type: ignore[attr-defined]


@contextlib.contextmanager
def remote_code_compat() -> Iterator[None]:
    """While a checkpoint's own model code (written for transformers 4.x) is imported and run."""
    from transformers import modeling_rope_utils  # start-up cost: only when a model loads
    from transformers.modeling_utils import PreTrainedModel

    rope = modeling_rope_utils.ROPE_INIT_FUNCTIONS
    added_rope = "default" not in rope
    if added_rope:
        rope["default"] = _default_rope
    shim_name = "transformers.modeling_attn_mask_utils"
    added_shim = shim_name not in sys.modules
    if added_shim:
        try:
            __import__(shim_name)
            added_shim = False
        except ImportError:
            shim = types.ModuleType(shim_name)
            shim.AttentionMaskConverter = _RemovedAttentionMaskConverter  # type: ignore[attr-defined]
            sys.modules[shim_name] = shim
    original = PreTrainedModel.__dict__["__init_subclass__"]

    def init_subclass(cls: type, **kwargs: Any) -> None:
        original.__get__(None, cls)(**kwargs)
        _adapt_4x_class(cls)

    PreTrainedModel.__init_subclass__ = classmethod(init_subclass)  # type: ignore[assignment]
    try:
        yield
    finally:
        PreTrainedModel.__init_subclass__ = original  # type: ignore[assignment]
        if added_shim:
            sys.modules.pop(shim_name, None)
        if added_rope:
            rope.pop("default", None)


@contextlib.contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Modules built inside hold their parameters on the meta device (no memory, no init work)
    while their buffers are computed for real, as each module's __init__ computes them."""
    register = torch.nn.Module.register_parameter

    def on_meta(module: torch.nn.Module, name: str, param: Any) -> None:
        register(module, name, None if param is None else torch.nn.Parameter(param.to("meta"), param.requires_grad))

    torch.nn.Module.register_parameter = on_meta  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = register  # type: ignore[method-assign]


def restore_computed_buffers(model: torch.nn.Module) -> list[str]:
    """Give every non-persistent buffer of a loaded model the value its module's __init__
    computes (a skeleton of the same class and config, parameters on the meta device), where
    loading left it different (transformers#48892: uninitialised memory). Returns the names of
    the buffers it restored."""
    with remote_code_compat(), _parameters_on_meta():
        skeleton = type(model)(model.config)
    fresh = dict(skeleton.named_buffers())
    restored = []
    for module_name, module in model.named_modules():
        for name in module._non_persistent_buffers_set:
            full = f"{module_name}.{name}" if module_name else name
            buffer, value = module._buffers.get(name), fresh.get(full)
            if buffer is None or value is None or value.is_meta or value.shape != buffer.shape:
                continue
            value = value.to(buffer.device, buffer.dtype)
            if not torch.equal(buffer, value):
                buffer.copy_(value)
                restored.append(full)
    return restored


_GGUF_PATCH = threading.RLock()  # one patch at a time; a nested block (same thread) restores the outer one


@contextlib.contextmanager
def gguf_parsed_once(active: bool = True) -> Iterator[None]:
    """Within the block, one gguf.GGUFReader per file and one tensor-name table per (arch,
    layers), shared by every transformers call that asks (module docstring); released on exit.
    The patch is process-wide, so loads in other threads wait for the block to end."""
    if not active:
        yield
        return
    try:
        import gguf  # the gguf extra: imported only for a GGUF checkpoint
    except ImportError:
        raise MechtestsError("loading a GGUF checkpoint needs the gguf package, which is not installed",
                             "pip install -e '.[gguf]' (or pip install gguf)") from None

    with _GGUF_PATCH:
        reader_class, name_table = gguf.GGUFReader, gguf.get_tensor_name_map
        readers: dict[tuple[str, str], Any] = {}

        def reader(path: Any, mode: str = "r") -> Any:
            key = (str(path), mode)
            if key not in readers:
                readers[key] = reader_class(path, mode)
            return readers[key]

        gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(name_table)
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = reader_class, name_table
