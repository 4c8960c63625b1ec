"""The vector-Jacobian product of a normalisation module, for many cotangents at one input.

Why: in a gradient pass every head of a layer reads the same stream x through the attention
norm, so the norm's Jacobian J(x) is shared by all heads and only the cotangents differ. For
RMSNorm and LayerNorm it has a closed form, per position, over the width d:
    J(x)^T g = u - (xhat / d) <u, xhat>,   u = r fold(g),   xhat = centred(x) r
with r = rsqrt(variance + eps) and
    RMSNorm   (y = w x r):               fold(g) = w g,            centred(x) = x
    LayerNorm (y = w (x - mean) r + c):  fold(g) = centred(w g),   centred(x) = x - mean
and `fold` is linear over the last axis, so it can be applied once to the weights that map the
q/k/v gradients back to the norm's output, and the dot product <u, xhat> can be taken in head
space (mechtests.measure.attribution.gradsum). A module whose form is not recognised gets its VJP
through torch.func (vjp under vmap), exact but slower. The form is recognised by evaluating the
module, not by its class name: a module counts as RMSNorm or LayerNorm only if its output
equals that formula on a test input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NormPullback:
    """The closed-form VJP of an RMSNorm (`centred` False) or a LayerNorm (`centred` True)."""

    weight: torch.Tensor | None  # (d,)
    eps: float
    centred: bool

    def fold_(self, w: torch.Tensor) -> torch.Tensor:
        """Apply the norm's weight (and LayerNorm's centring) along the last axis of `w`, in place."""
        if self.weight is not None:
            w.mul_(self.weight.to(w.device))
        return w.sub_(w.mean(-1, keepdim=True)) if self.centred else w

    def stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(centred(x), r (..., 1)), computed in fp32 as the families' norms do, returned in x's dtype."""
        x32 = x.float()
        centred = x32 - x32.mean(-1, keepdim=True) if self.centred else x32
        return centred.to(x.dtype), torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps).to(x.dtype)


def generic_vjp(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """J(x)^T g through torch.func, for x (B, T, d) and cotangents g (B, T, n, d)."""
    _, pull_back = torch.func.vjp(module, x)
    (out,) = torch.vmap(pull_back, in_dims=2, out_dims=2)(g)
    return out


def _eps(module: torch.nn.Module) -> float | None:
    for name in ("variance_epsilon", "eps", "epsilon"):
        value = getattr(module, name, None)
        if isinstance(value, float):
            return value
    return None


def _layer_norm(module: torch.nn.Module, x: torch.Tensor, eps: float) -> torch.Tensor:
    y = torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)
    w, b = getattr(module, "weight", None), getattr(module, "bias", None)
    return (y if w is None else y * w) + (0 if b is None else b)


def norm_pullback(module: torch.nn.Module, d_model: int) -> NormPullback | None:
    """The closed-form VJP of `module` (a norm over the last axis, width d_model) when it computes
    RMSNorm or LayerNorm, else None (use `generic_vjp`)."""
    eps, weight = _eps(module), getattr(module, "weight", None)
    if eps is None or (weight is not None and tuple(weight.shape) != (d_model,)):
        return None
    weight = None if weight is None else weight.detach()
    like = weight if weight is not None else next(iter(module.parameters()), torch.zeros(()))
    probe = torch.randn(2, 3, d_model, generator=torch.Generator().manual_seed(0)).to(like.device, like.dtype)
    with torch.no_grad():
        actual = module(probe)
        rms = probe * torch.rsqrt(probe.pow(2).mean(-1, keepdim=True) + eps)
        if weight is not None and torch.allclose(actual, weight * rms, rtol=1e-4, atol=1e-5):
            return NormPullback(weight, eps, centred=False)
        if torch.allclose(actual, _layer_norm(module, probe, eps), rtol=1e-4, atol=1e-5):
            return NormPullback(weight, eps, centred=True)
    return None
