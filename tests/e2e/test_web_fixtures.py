"""The browser tools catch what they are there to catch: an inaccessible page, a request to
another origin, a console error, a CSP violation. A page of this module's own, served from a
local http.server on 127.0.0.1 (no stack)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e import browser as tools

pytestmark = pytest.mark.browser

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data: blob:; frame-ancestors 'none'")

PAGES = {
    # light grey on white (contrast 1.6:1) and an input without a label: both "serious"
    "/bad.html": """<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Halaman buruk</title><link rel="stylesheet" href="/bad.css"></head><body><main>
<h1>Masuk</h1><p class="faint">Teks yang hampir tak terbaca</p>
<form><input type="text" name="nip"><button type="submit">Masuk</button></form>
</main></body></html>""",
    "/bad.css": ".faint { color: #d0d0d0; background: #ffffff; }",
    "/good.html": """<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Halaman baik</title></head><body><main><h1>Masuk</h1>
<form><label for="nip">NIP atau nama pengguna</label><input id="nip" name="nip">
<button type="submit">Masuk</button></form></main></body></html>""",
    # a script of our own that logs an error; an image from another origin
    "/noisy.html": """<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Ribut</title><script src="/noisy.js"></script></head><body><main><h1>Ribut</h1>
<img src="http://127.0.0.2:9/luar.png" alt="luar"></main></body></html>""",
    "/noisy.js": "console.error('sengaja gagal');",
    # an inline script, which the CSP refuses
    "/inline.html": """<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Inline</title></head><body><main><h1>Inline</h1>
<script>document.title = 'dijalankan';</script></main></body></html>""",
}
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/favicon.ico":  # a 404 would be a console error of every page
            self.send_response(204)
            self.end_headers()
            return
        body = PAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", TYPES[self.path[self.path.rindex("."):]])
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def opened(browser, site):
    context, page, watch = tools.open_page(browser, tools.PHONE, site)
    yield page, watch
    context.close()


def test_accessibility_check_reports_bad_contrast_and_a_missing_label(opened):
    page, watch = opened
    page.goto("/bad.html")
    found = {v["id"]: v for v in tools.blocking(tools.axe_violations(page))}
    assert {"color-contrast", "label"} <= set(found)
    [faint] = found["color-contrast"]["targets"]
    assert page.locator(faint).get_attribute("class") == "faint"
    [unlabelled] = found["label"]["targets"]
    assert page.locator(unlabelled).get_attribute("name") == "nip"
    with pytest.raises(pytest.fail.Exception) as failed:
        tools.check_accessibility(page, "halaman buruk")
    message = str(failed.value)
    assert "color-contrast" in message and "label" in message and "halaman buruk" in message
    assert unlabelled in message
    # axe-core was evaluated in the page although its CSP allows no inline script
    assert watch.problems() == []


def test_accessibility_check_passes_a_labelled_page(opened):
    page, watch = opened
    page.goto("/good.html")
    tools.check_accessibility(page, "halaman baik")
    assert watch.problems() == []


def test_watch_catches_a_console_error_and_a_request_to_another_origin(opened, site):
    page, watch = opened
    page.goto("/noisy.html")
    page.wait_for_load_state("load")
    assert any("sengaja gagal" in e for e in watch.console_errors)
    assert watch.outside_requests == ["GET http://127.0.0.2:9/luar.png"]
    with pytest.raises(pytest.fail.Exception) as failed:
        watch.check()
    assert "request outside " + site in str(failed.value)


def test_watch_catches_a_csp_violation(opened):
    page, watch = opened
    page.goto("/inline.html")
    page.wait_for_function("document.readyState === 'complete'")
    assert page.title() == "Inline"  # the inline script did not run
    page.wait_for_timeout(100)  # the violation event is dispatched asynchronously
    assert any(v.startswith("script-src-elem blocked inline") for v in watch.csp_violations), \
        watch.csp_violations


def test_screenshot_is_named_by_test_viewport_and_step(opened, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMASN_TEST_ARTIFACTS", str(tmp_path))
    page, _ = opened
    page.goto("/good.html")
    path = tools.screenshot(page, "awal")
    assert path == tmp_path / "test_screenshot_is_named_by_test_viewport_and_step--phone--awal.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.viewport_size == {"width": 360, "height": 740}
    assert page.evaluate("navigator.language") == "id-ID"
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Jakarta"
