"""Standard component sites and how to read or overwrite them inside an nnsight trace.

A Site names one place in the forward pass the same way for every architecture. `read` and
`write` hide where each family keeps it and whether a module returns a tuple or a tensor.
nnsight requires reads in forward order within one trace; `Site.order` sorts sites that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mechtests.errors import MechtestsError

if TYPE_CHECKING:
    from mechtests.models.subject import Subject

SITE_NAMES = ("embed", "resid_pre", "head", "attn_out", "mlp_out", "resid_post", "logits")
_STAGE = {name: i for i, name in enumerate(SITE_NAMES)}


@dataclass(frozen=True, order=False)
class Site:
    """One component: `embed`, `resid_pre`/`resid_post` l, `attn_out` l, `head` (l, h), `mlp_out` l, `logits`.

    `embed` is the residual stream entering layer 0 (token plus position embeddings), so it is
    the same node for RoPE and learned-position models.
    """

    name: str
    layer: int | None = None
    head: int | None = None

    def __post_init__(self) -> None:
        if self.name not in _STAGE:
            raise MechtestsError(f"unknown component {self.name!r}", f"use one of {SITE_NAMES}")
        needs_layer = self.name not in ("embed", "logits")
        if needs_layer and self.layer is None:
            raise MechtestsError(f"component {self.name!r} needs a layer", f"write Site({self.name!r}, layer)")
        if self.name == "head" and self.head is None:
            raise MechtestsError("component 'head' needs a head index", "write Site('head', layer, head)")

    @property
    def order(self) -> tuple[int, int, int]:
        """Sort key that follows the forward pass (nnsight reads must come in this order)."""
        if self.name == "embed":
            return (-1, 0, 0)
        if self.name == "logits":
            return (1 << 30, 0, 0)
        return (self.layer or 0, _STAGE[self.name], self.head or 0)

    def __str__(self) -> str:
        if self.name == "head":
            return f"head {self.layer}.{self.head}"
        if self.layer is None:
            return self.name
        return f"{self.name} {self.layer}"


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, tuple) else value


def read(subject: "Subject", site: Site) -> Any:
    """The site's activation inside the current trace: (B, T, d_model), (B, T, d_head) for a head, (B, T, V) for logits."""
    if site.name in ("embed", "resid_pre"):
        return subject.layer_envoy(site.layer or 0).input
    if site.name == "resid_post":
        return _first(subject.layer_envoy(site.layer).output)
    if site.name == "attn_out":
        return _first(subject.attention_envoy(site.layer).output)
    if site.name == "mlp_out":
        return _first(subject.mlp_envoy(site.layer).output)
    if site.name == "head":
        return subject.out_proj_envoy(site.layer).input[..., subject.head_slice(site.head)]
    return _first(subject.unembed_envoy().output)


def write(subject: "Subject", site: Site, value: Any) -> None:
    """Overwrite the site's activation inside the current trace with `value` (broadcastable)."""
    if site.name in ("embed", "resid_pre"):
        env = subject.layer_envoy(site.layer or 0)
        env.input = value
        return
    if site.name == "head":
        subject.out_proj_envoy(site.layer).input[..., subject.head_slice(site.head)] = value
        return
    env = {
        "resid_post": lambda: subject.layer_envoy(site.layer),
        "attn_out": lambda: subject.attention_envoy(site.layer),
        "mlp_out": lambda: subject.mlp_envoy(site.layer),
        "logits": subject.unembed_envoy,
    }[site.name]()
    out = env.output
    if isinstance(out, tuple):
        env.output = (value,) + tuple(out[1:])
    else:
        env.output = value
