"""The deployed stack, started once for the end-to-end suite (tests/e2e/harness.py)."""

import signal

import pytest

from tests.e2e import harness


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # a run stopped with SIGTERM/SIGHUP (a CI timeout, a closed terminal) still tears the stack
    # down: pytest runs fixture teardown on KeyboardInterrupt, not on a signal's default action
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    running = harness.start(tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        harness.stop(running)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@pytest.fixture
def client(stack):
    return stack.client()
