"""Layer 1: checkpoints in, Subjects out."""

from mechtests.models.components import SITE_NAMES, Site, read, write
from mechtests.models.loading import load_subject, weights_sha256
from mechtests.models.spec import ModelSpec
from mechtests.models.subject import Subject

__all__ = ["SITE_NAMES", "ModelSpec", "Site", "Subject", "load_subject", "read", "weights_sha256", "write"]
