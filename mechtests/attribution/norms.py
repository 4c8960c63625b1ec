"""The vector-Jacobian product of a normalisation module, for many cotangents at one input.

Why: in a gradient pass every head of a layer reads the same stream x through the attention
norm, so the norm's Jacobian at x is shared by all heads and only the cotangents differ. A
closed form applies it to all heads at once with a few broadcast element-wise operations; a
module whose form is not recognised goes through torch.func (vjp under vmap), which is exact
but slower. The form is recognised by evaluating the module, not by its class name: a module
counts as RMSNorm or LayerNorm only if its output equals that formula on a test input.
"""

from __future__ import annotations

from typing import Callable

import torch

# (x (B, T, d), cotangents (B, T, n, d)) -> gradients at x, one per cotangent (B, T, n, d)
NormVJP = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _eps(module: torch.nn.Module) -> float | None:
    for name in ("variance_epsilon", "eps", "epsilon"):
        value = getattr(module, name, None)
        if isinstance(value, float):
            return value
    return None


def _rms_vjp(weight: torch.Tensor, eps: float) -> NormVJP:
    # y = w * x * r with r = rsqrt(mean(x^2) + eps):  g_x = (w r) * g - x * r^3 / d * <g, w x>
    def vjp(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        r = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)  # (B, T, 1)
        dots = torch.einsum("btnd,btd->btn", g, (weight * x) * (r.pow(3) / x.shape[-1]))  # (B, T, n)
        return torch.addcmul(g * (weight * r).unsqueeze(2), x.unsqueeze(2), dots.unsqueeze(-1), value=-1)

    return vjp


def _layer_norm_vjp(weight: torch.Tensor | None, eps: float) -> NormVJP:
    def vjp(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(2)
        centred = x - x.mean(-1, keepdim=True)
        r = torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + eps)
        xhat = centred * r
        u = g * weight if weight is not None else g
        return r * (u - u.mean(-1, keepdim=True) - xhat * (u * xhat).mean(-1, keepdim=True))

    return vjp


def _generic_vjp(module: torch.nn.Module) -> NormVJP:
    def vjp(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        _, pull_back = torch.func.vjp(module, x)
        (out,) = torch.vmap(pull_back, in_dims=2, out_dims=2)(g)
        return out

    return vjp


def _rms(module: torch.nn.Module, x: torch.Tensor, eps: float) -> torch.Tensor:
    return module.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _layer_norm(module: torch.nn.Module, x: torch.Tensor, eps: float) -> torch.Tensor:
    y = torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)
    w, b = getattr(module, "weight", None), getattr(module, "bias", None)
    return (y if w is None else y * w) + (0 if b is None else b)


def norm_vjp(module: torch.nn.Module, d_model: int) -> NormVJP:
    """The VJP of `module` (a norm over the last axis of width d_model), in closed form when the
    module computes RMSNorm or LayerNorm, else through torch.func."""
    eps, weight = _eps(module), getattr(module, "weight", None)
    if eps is None or (weight is not None and tuple(weight.shape) != (d_model,)):
        return _generic_vjp(module)
    weight = None if weight is None else weight.detach()
    p = weight if weight is not None else next(iter(module.parameters()), torch.zeros(()))
    probe = torch.randn(2, 3, d_model, generator=torch.Generator().manual_seed(0)).to(p.device, p.dtype)
    with torch.no_grad():
        actual = module(probe)
        if weight is not None and torch.allclose(actual, _rms(module, probe, eps), rtol=1e-4, atol=1e-5):
            return _rms_vjp(weight, eps)
        if torch.allclose(actual, _layer_norm(module, probe, eps), rtol=1e-4, atol=1e-5):
            return _layer_norm_vjp(weight, eps)
    return _generic_vjp(module)
