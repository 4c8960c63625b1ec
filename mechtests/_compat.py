"""Import-order workarounds for third-party packages, kept in one place.

nnsight 0.8 adds a `save` attribute to `object`; anyio's TypedAttributeSet subclasses defined
after that fail with "Attribute 'save' is missing its type annotation". Importing anyio's
abstract classes before nnsight keeps pytest (whose anyio plugin imports them lazily) working.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


def import_nnsight():  # noqa: ANN201 - returns the nnsight module
    try:
        import anyio.abc  # noqa: F401
    except ImportError:
        pass
    import nnsight

    return nnsight


@contextlib.contextmanager
def remote_code_compat() -> Iterator[None]:
    """While a checkpoint's own model code (written for transformers 4.x) is imported and run."""
    yield
