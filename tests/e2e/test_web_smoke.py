"""The web application's first promise: `/` on the deployed stack answers the shell under a
content security policy, and shows the login form, at phone and desktop size, accessible, with
nothing logged as an error and nothing asked of another origin (the `page` fixture's watch)."""

import pytest

from tests.e2e.browser import check_accessibility, screenshot

pytestmark = pytest.mark.browser


def test_root_shows_the_login_form(page, stack):
    response = page.goto("/")
    assert response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp

    form = page.locator("form#login-form")
    form.wait_for()
    login = form.get_by_label("NIP atau nama pengguna")
    password = form.get_by_label("Kata sandi")
    submit = form.get_by_role("button", name="Masuk")
    for element in (login, password, submit):
        assert element.is_visible()
    assert password.get_attribute("type") == "password"
    # the form fits the viewport: nothing scrolls sideways on a 360 px phone
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "login")
    check_accessibility(page, "halaman masuk")
