"""The deployed stack, started once for the end-to-end suite (tests/e2e/harness.py)."""

import signal

import pytest

from tests.e2e import harness


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """The deployed stack for the tests of this package, stopped after the last of them: its
    nine processes hold some fifty database connections, which the rest of the suite (run in
    the same pytest process after tests/e2e) needs under PostgreSQL's default 100."""
    # a run stopped with SIGTERM/SIGHUP (a CI timeout, a closed terminal) still tears the stack
    # down: pytest runs fixture teardown on KeyboardInterrupt, not on a signal's default action
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # one gateway: these tests count what one gateway answers (its body budget held for the
    # 503s, its per-address burst for the 429s); two replicas are proven by
    # tests/test_gateway_replicas.py, the kill loop (tests/test_chaos.py) and bench/soak.py
    running = harness.start(tmp_path_factory.mktemp("stack"),
                            env={"SIMASN_REPLICAS": "gateway=1"})
    try:
        yield running
    finally:
        harness.stop(running)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@pytest.fixture
def client(stack):
    return stack.client()


# -- browser tests (tests/e2e/browser.py); marker `browser`, run without eventlet ---------------


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the run, driven by Playwright."""
    from tests.e2e import browser as tools

    tools.require_no_eventlet()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = tools.launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(params=["phone", "desktop"])
def viewport(request):
    """Each test that takes it runs at the phone (360x740, touch) and the desktop size."""
    from tests.e2e import browser as tools

    return {v.name: v for v in tools.VIEWPORTS}[request.param]


@pytest.fixture
def page(browser, stack, viewport):
    """A fresh context on the stack (base_url = stack.url, id-ID, Asia/Jakarta) and its page. The
    test fails when the page logged a console error, threw, broke the CSP, or asked anything of
    an origin other than the stack's."""
    from tests.e2e import browser as tools

    context, page, watch = tools.open_page(browser, viewport, stack.url)
    try:
        yield page
        watch.check()
    finally:
        context.close()
