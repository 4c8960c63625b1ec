"""Layer 1: checkpoints in, Subjects out."""

from mechtests.models.architectures import ArchitectureMap
from mechtests.models.components import SITE_NAMES, Site, read, write
from mechtests.models.families import FAMILIES, Family
from mechtests.models.identity import weights_sha256
from mechtests.models.loading import load_checked, load_subject
from mechtests.models.spec import ModelSpec
from mechtests.models.subject import Subject

__all__ = [
    "FAMILIES", "SITE_NAMES", "ArchitectureMap", "Family", "ModelSpec", "Site", "Subject",
    "load_checked", "load_subject", "read", "weights_sha256", "write",
]
