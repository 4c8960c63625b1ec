"""The plugin tests run suites on a fake pair in a pytest subprocess (mechtests.plugin.testing)."""

from mechtests.plugin.testing import FAKE_CONFTEST, PYPROJECT, Suite, suite  # noqa: F401 - the fixture and its parts
