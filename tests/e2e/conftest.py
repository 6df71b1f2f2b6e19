"""The deployed stack, started once for the end-to-end suite (tests/e2e/harness.py)."""

import pytest

from tests.e2e import harness


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    running = harness.start(tmp_path_factory.mktemp("stack"))
    yield running
    harness.stop(running)


@pytest.fixture
def client(stack):
    return stack.client()
