"""Browser tests' tools: Debian's Chromium driven by Playwright (never a downloaded browser).

- `launch(playwright)`: headless Chromium at $SIMASN_CHROMIUM (default /usr/bin/chromium,
  installed by `scripts/infra.sh browser`), `--no-sandbox` since CI runs as root.
  `SIMASN_HEADED=1` shows the window, `SIMASN_SLOWMO=<ms>` slows every action down.
- `PHONE` and `DESKTOP`: the two viewports every page is checked at.
- `open_page(browser, viewport, base_url)`: a fresh context (locale id-ID, Asia/Jakarta) and its
  page, watched by a `Watch`: console errors, uncaught exceptions, CSP violations and any request
  to an origin other than base_url's are recorded; `watch.check()` fails with the list.
- `screenshot(page, name)`: a PNG under the artifacts directory ($SIMASN_TEST_ARTIFACTS, else
  test-artifacts/ at the repo root), named by test, viewport and step.
- `check_accessibility(page, note)`: the vendored axe-core run in the page against WCAG 2.1 A/AA;
  fails listing each violation of serious or critical impact.

These run in a pytest process without eventlet's monkey patching (tests/conftest.py, marker
`browser`, `make test` runs them as `SIMASN_TEST_BROWSER=1 pytest -m browser`): under it
Playwright's sync API hangs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SIMASN_CHROMIUM", "/usr/bin/chromium")
AXE_SOURCE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
#: schemes that never leave the browser
LOCAL_SCHEMES = {"data", "blob", "about"}


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    is_mobile: bool = False
    has_touch: bool = False

    def context_options(self) -> dict:
        return {"viewport": {"width": self.width, "height": self.height},
                "is_mobile": self.is_mobile, "has_touch": self.has_touch}


PHONE = Viewport("phone", 360, 740, is_mobile=True, has_touch=True)
DESKTOP = Viewport("desktop", 1366, 900)
VIEWPORTS = (PHONE, DESKTOP)


def require_no_eventlet() -> None:
    from eventlet import patcher

    if patcher.is_monkey_patched("socket"):
        pytest.fail("browser tests run in a pytest process without eventlet: "
                    "SIMASN_TEST_BROWSER=1 .venv/bin/pytest -m browser ... (make test does)",
                    pytrace=False)


def launch(playwright):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/infra.sh browser "
                    "(installs Debian's chromium) or set SIMASN_CHROMIUM", pytrace=False)
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=os.environ.get("SIMASN_HEADED") != "1",
        slow_mo=float(os.environ.get("SIMASN_SLOWMO", "0")),
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# Runs in every document before its own scripts, injected through the DevTools protocol, which
# the page's CSP does not govern; the violation reaches Python through an exposed binding.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  const blocked = e.blockedURI || "(inline)";
  window.__simasnCspViolation(
    `${e.effectiveDirective} blocked ${blocked} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@dataclass
class Watch:
    """What a page did that a test must not let pass."""

    allowed_origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def attach(self, context) -> None:
        context.expose_function("__simasnCspViolation", self._on_csp)
        context.add_init_script(_CSP_LISTENER)
        context.on("request", self._on_request)
        context.on("page", self._watch_page)

    def _on_csp(self, description: str) -> None:
        self.csp_violations.append(description)

    def _watch_page(self, page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))

    def _on_console(self, message) -> None:
        if message.type == "error":
            where = message.location or {}
            self.console_errors.append(f"{message.text} ({where.get('url', '?')}:"
                                       f"{where.get('lineNumber', '?')})")

    def _on_request(self, request) -> None:
        url = request.url
        if urlsplit(url).scheme in LOCAL_SCHEMES:
            return
        if origin(url) != self.allowed_origin:
            self.outside_requests.append(f"{request.method} {url}")

    def problems(self) -> list[str]:
        return ([f"console error: {e}" for e in self.console_errors]
                + [f"uncaught exception: {e}" for e in self.page_errors]
                + [f"CSP violation: {e}" for e in self.csp_violations]
                + [f"request outside {self.allowed_origin}: {e}" for e in self.outside_requests])

    def check(self) -> None:
        found = self.problems()
        if found:
            pytest.fail("the page misbehaved:\n  " + "\n  ".join(found), pytrace=False)


def open_page(browser, viewport: Viewport, base_url: str):
    """A fresh context at `viewport` and its page, watched; returns (context, page, watch)."""
    base_url = base_url.rstrip("/")
    context = browser.new_context(base_url=base_url, locale="id-ID", timezone_id="Asia/Jakarta",
                                  **viewport.context_options())
    watch = Watch(origin(base_url))
    watch.attach(context)
    page = context.new_page()
    page.simasn_viewport = viewport  # read by screenshot()
    return context, page, watch


def artifacts_dir() -> Path:
    path = Path(os.environ.get("SIMASN_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save the page as <artifacts>/<test>--<viewport>--<name>.png and return the path."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "adhoc").split(" ")[0].split("::")[-1]
    viewport = getattr(page, "simasn_viewport", None)
    parts = [test, viewport.name if viewport else "", name]
    path = artifacts_dir() / ("--".join(_slug(p) for p in parts if p) + ".png")
    page.screenshot(path=str(path), full_page=full_page)
    return path


def axe_violations(page) -> list[dict]:
    """Every WCAG 2.1 A/AA violation axe-core finds in the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # evaluated as a script in the page: the page's CSP governs <script> tags, not this
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
    return page.evaluate(
        """async (tags) => {
             const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                                     resultTypes: ["violations"]});
             return result.violations.map((v) => ({
               id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
               targets: v.nodes.map((n) => n.target.join(" ")),
             }));
           }""",
        WCAG_TAGS,
    )


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]


def describe(violations: list[dict]) -> str:
    return "\n".join(f"  [{v['impact']}] {v['id']}: {v['help']}\n"
                     + "".join(f"      at {t}\n" for t in v["targets"]) for v in violations)


def check_accessibility(page, context_note: str = "") -> list[dict]:
    """Fail when axe-core finds a serious or critical WCAG 2.1 A/AA violation; returns all found
    (the minor and moderate ones too, for a test that wants to look at them)."""
    found = axe_violations(page)
    bad = blocking(found)
    if bad:
        pytest.fail(f"accessibility violations on {page.url}"
                    f"{' (' + context_note + ')' if context_note else ''}:\n{describe(bad)}",
                    pytrace=False)
    return found
