"""One exception type for every user-facing mistake.

Its message is a single line that says what is wrong and how to fix it; the CLI and the
pytest plugin print it without a traceback.
"""

from __future__ import annotations


class MechtestsError(Exception):
    """A problem with the user's input or setup, reported as one line that names the fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}; {fix}")
