"""What kind of model a checkpoint is, and how much of it we are willing to trust.

The kind (ARM or MDM, with the MDM's mask token and prediction convention) comes either from
a `mechtests` block in config.json or from an explicit spec; loading options that execute
foreign code (`trust_remote_code`, pickle weights) are off unless the spec turns them on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Mapping

from mechtests.errors import MechtestsError

if TYPE_CHECKING:
    from mechtests.models.architectures import ArchitectureMap
    from mechtests.models.families import Family

Kind = Literal["arm", "mdm"]
Prediction = Literal["shifted", "same-position"]

KINDS: tuple[str, ...] = ("arm", "mdm")
PREDICTIONS: tuple[str, ...] = ("shifted", "same-position")


@dataclass(frozen=True)
class ModelSpec:
    """How to load and read one checkpoint.

    prediction: `shifted` means the logits at position i predict token i+1 (every ARM, and
    MDMs post-trained from one: Dream, DiffuLLaMA, DiffuGPT); `same-position` means logits at i
    predict token i (LLaDA).
    family / attention / arch: override the detected family, its way of attending
    bidirectionally (mechtests.models.families.ATTENTION_FORMS) or its architecture map.
    """

    path: str
    kind: Kind | None = None
    mask_token_id: int | None = None
    prediction: Prediction | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    gguf_file: str | None = None
    device: str = "cpu"  # or cuda, cuda:N, mps, auto (mechtests.models.placement resolves it at load)
    dtype: str = "float32"  # or bfloat16, float16 (bf16, fp16), auto: bf16 on a GPU, fp32 on the CPU
    family: str | None = None
    attention: str | None = None
    arch: "ArchitectureMap | Mapping[str, Any] | None" = None

    def with_config_block(self, block: dict[str, Any] | None) -> "ModelSpec":
        """Fill the fields the user left unset from config.json's `mechtests` block."""
        if block is None:
            block = {}
        if not isinstance(block, dict):
            raise MechtestsError(
                f"config.json's mechtests block is a {type(block).__name__}, not a table, in {self.path}",
                'write it as an object, e.g. "mechtests": {"kind": "mdm", "mask_token_id": 4, "prediction": "shifted"}',
            )
        unknown = set(block) - {"kind", "mask_token_id", "prediction"}
        if unknown:
            raise MechtestsError(
                f"config.json's mechtests block has unknown keys {sorted(unknown)} in {self.path}",
                "keep only kind, mask_token_id and prediction",
            )
        return replace(
            self,
            kind=self.kind or block.get("kind"),
            mask_token_id=self.mask_token_id if self.mask_token_id is not None else block.get("mask_token_id"),
            prediction=self.prediction or block.get("prediction"),
        )

    def with_family(self, family: "Family", tokenizer_mask_id: int | None, config_mask_id: Any) -> "ModelSpec":
        """Fill what is still unset from the family's defaults (mask token: the config's, the family's,
        then the tokenizer's where the family trains with it)."""
        mask = self.mask_token_id
        if mask is None and (self.kind or family.kind) == "mdm":
            found = (config_mask_id, family.mask_token_id, tokenizer_mask_id if family.mask_from_tokenizer else None)
            mask = next((m for m in found if m is not None), None)
        return replace(
            self,
            family=family.name,
            kind=self.kind or family.kind,
            prediction=self.prediction or (family.prediction if (self.kind or family.kind) == "mdm" else None),
            mask_token_id=mask,
            attention=self.attention or family.attention,
        )

    def validated(self) -> "ModelSpec":
        """Check the kind, mask token and convention; default an ARM's convention to shifted."""
        if self.kind is None:
            raise MechtestsError(
                f"no model kind for {self.path}",
                'add "mechtests": {"kind": "arm"} (or "mdm" with mask_token_id and prediction) '
                "to its config.json, or pass kind= to load_subject",
            )
        if self.kind not in KINDS:
            raise MechtestsError(f"unknown model kind {self.kind!r} for {self.path}", f"use one of {KINDS}")
        if self.kind == "arm":
            if self.prediction not in (None, "shifted"):
                raise MechtestsError(
                    f"an ARM predicts the next token, but {self.path} says prediction={self.prediction!r}",
                    "drop prediction or set it to 'shifted'",
                )
            return replace(self, prediction="shifted")
        if self.mask_token_id is not None and (isinstance(self.mask_token_id, bool) or not isinstance(self.mask_token_id, int)):
            raise MechtestsError(
                f"mask_token_id {self.mask_token_id!r} of {self.path} is not an integer",
                "set mask_token_id to the integer id of the mask token (config.json's mechtests block or mask_token_id=)",
            )
        if self.mask_token_id is None:
            raise MechtestsError(
                f"the MDM {self.path} has no mask token",
                "set mask_token_id in config.json's mechtests block or pass mask_token_id= "
                "(Dream and DiffuCoder use 151666, LLaDA 126336)",
            )
        if self.prediction not in PREDICTIONS:
            raise MechtestsError(
                f"the MDM {self.path} has prediction={self.prediction!r}",
                f"set prediction to one of {PREDICTIONS} (Dream, DiffuLLaMA, DiffuGPT: shifted; LLaDA: same-position)",
            )
        return self
