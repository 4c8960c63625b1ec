"""The attention norm's VJP for per-head cotangents: the closed forms (from the pieces the
gradient sums use: fold, centred(x) and r) and the torch.func fallback against autograd, one
cotangent at a time."""

from __future__ import annotations

import pytest
import torch
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from mechtests.measure.attribution.norms import generic_vjp, norm_pullback


class ScaledTanhNorm(torch.nn.Module):
    """Not RMSNorm nor LayerNorm, though it has a weight and an eps: must take the fallback."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight, self.eps = torch.nn.Parameter(torch.rand(d) + 0.5), 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.tanh(x) / (x.abs().mean(-1, keepdim=True) + self.eps)


def _rms(d):
    norm = LlamaRMSNorm(d, eps=1e-6)
    norm.weight.data = torch.rand(d) + 0.5
    return norm


def _layer_norm(d):
    norm = torch.nn.LayerNorm(d)
    norm.weight.data, norm.bias.data = torch.rand(d) + 0.5, torch.randn(d)
    return norm


@pytest.mark.parametrize("make", [_rms, _layer_norm, lambda d: torch.nn.LayerNorm(d, elementwise_affine=False), ScaledTanhNorm])
def test_norm_vjp_matches_autograd_for_each_head(make):
    torch.manual_seed(0)
    d, heads = 16, 3
    norm = make(d)
    x, g = torch.randn(2, 5, d), torch.randn(2, 5, heads, d)
    pull = norm_pullback(norm, d)
    assert (pull is None) == isinstance(norm, ScaledTanhNorm)
    if pull is None:
        got = generic_vjp(norm, x, g)
    else:  # J(x)^T g = u - (xhat / d) <u, xhat>, u = r fold(g), xhat = centred(x) r (mechtests.measure.attribution.norms)
        centred, r = pull.stats(x.unsqueeze(2))
        u, xhat = pull.fold_(g.clone()) * r, centred * r
        got = u - xhat / d * (u * xhat).sum(-1, keepdim=True)
    for h in range(heads):
        xr = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(norm(xr), xr, g[:, :, h])
        torch.testing.assert_close(got[:, :, h], want, rtol=1e-5, atol=1e-6)
