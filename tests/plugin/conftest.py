"""The plugin tests run suites on a fake pair in a pytest subprocess (mechtests.testing.suite)."""

from mechtests.testing.suite import FAKE_CONFTEST, PYPROJECT, Suite, suite  # noqa: F401 - the fixture and its parts
