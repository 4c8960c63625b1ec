"""A usage error found while collecting stops the run with one line, under -n 0 and -n N alike.

Under -n N each worker collects on its own, so a problem only collection can see (a duplicate
hypothesis id) is found on the workers, not in the controller. Raising it there is not enough:
pytest sends the worker's items to the controller even when collection raised, xdist schedules
them, and the worker that finished without running them ends the run in an INTERNALERROR. So a
worker empties its collection and hands the problem over with its `workeroutput`; the
controller raises it as the run's usage error (exit 4) when that worker goes down, before any
test has run.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from mechtests.plugin.state import state_of

USAGE_ERROR_OUTPUT_KEY = "mechtests_usage_error"


def stop_collection(config: pytest.Config, items: list[pytest.Item], problem: str) -> NoReturn:
    """Stop this process's collection with `problem`; forget what was collected, so that no report
    (of the cases before it, all unrun) replaces the last run's."""
    state_of(config).collected.clear()
    items.clear()
    output = getattr(config, "workeroutput", None)
    if output is not None:
        output[USAGE_ERROR_OUTPUT_KEY] = problem
    raise pytest.UsageError(f"mechtests: {problem}") from None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: a worker that stopped its collection stops the run with its problem."""
    problem = (getattr(node, "workeroutput", None) or {}).get(USAGE_ERROR_OUTPUT_KEY)
    if problem is not None:
        raise pytest.UsageError(f"mechtests: {problem}")
