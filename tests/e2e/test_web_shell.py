"""The shell every page lives in (web/js/app.js): the clear-screen lock of the regulation — a
staff page locks after WEB_LOCK_STAFF_SECONDS (15 minutes) without activity, a pegawai's after
WEB_LOCK_PEGAWAI_SECONDS (30), the page emptied and the password asked again, a reload not
opening it — and a reloaded tab that keeps its session. Time is the browser's own clock, moved
forward by Playwright, not waited for."""

import pytest

from tests.e2e.browser import check_accessibility, screenshot

pytestmark = pytest.mark.browser


def log_in(page, login: str, password: str, otp: str | None = None) -> None:
    page.goto("/")
    form = page.locator("form#login-form")
    form.get_by_label("NIP atau nama pengguna").fill(login)
    form.get_by_label("Kata sandi").fill(password)
    form.get_by_role("button", name="Masuk").click()
    if otp is not None:
        otp_form = page.locator("form#otp-form")
        otp_form.get_by_label("Kode OTP").fill(otp)
        otp_form.get_by_role("button", name="Masuk").click()
    page.locator("#who").get_by_role("link", name="Akun saya").wait_for()


def pegawai_of(stack, index: int) -> str:
    return sorted(stack.seeded.pegawai)[index]


def test_a_pegawai_page_locks_after_its_own_idle_time_and_opens_with_the_password(page, stack,
                                                                                viewport):
    page.clock.install()
    nip = pegawai_of(stack, 0 if viewport.name == "phone" else 1)
    log_in(page, nip, stack.seeded.password)
    page.goto("/#/akun")
    page.get_by_role("heading", name="Akun saya").wait_for()

    page.clock.fast_forward("16:00")  # a staff page would be locked by now; a pegawai's not
    assert page.locator("#lock").is_hidden()
    page.clock.fast_forward("15:00")
    lock = page.get_by_role("dialog", name="Layar terkunci")
    lock.wait_for()
    # clear screen: nothing of the page is left in the document, and nothing behind is usable
    assert page.locator("#main").inner_text().strip() == ""
    assert page.locator("#shell").is_hidden()
    assert lock.get_by_label("Kode OTP").count() == 0  # a pegawai has no second factor
    screenshot(page, "terkunci")
    check_accessibility(page, "layar terkunci")

    page.reload()  # a reload does not open it
    page.get_by_role("dialog", name="Layar terkunci").wait_for()
    assert page.locator("#main").inner_text().strip() == ""

    lock = page.get_by_role("dialog", name="Layar terkunci")
    lock.get_by_label("Kata sandi").fill("bukan-kata-sandinya")
    lock.get_by_role("button", name="Buka kunci").click()
    problem = lock.locator(".problem")
    problem.wait_for()
    assert "salah" in problem.inner_text().lower()
    assert page.locator("#shell").is_hidden()

    lock.get_by_label("Kata sandi").fill(stack.seeded.password)
    lock.get_by_role("button", name="Buka kunci").click()
    page.get_by_role("heading", name="Akun saya").wait_for()
    assert page.locator("#lock").is_hidden()
    screenshot(page, "dibuka")


def test_a_staff_page_locks_after_fifteen_minutes_and_asks_for_the_otp_too(page, stack,
                                                                           viewport):
    page.clock.install()
    login = "fas.dindik1" if viewport.name == "phone" else "fas.dinkes1"
    log_in(page, login, stack.seeded.password, stack.otp(login))
    page.clock.fast_forward("14:00")
    page.mouse.move(5, 5)  # activity starts the count again
    page.locator("body").press("Tab")
    page.clock.fast_forward("14:00")
    assert page.locator("#lock").is_hidden()
    page.clock.fast_forward("01:30")
    lock = page.get_by_role("dialog", name="Layar terkunci")
    lock.wait_for()
    assert lock.get_by_label("Kata sandi").is_visible()
    assert lock.get_by_label("Kode OTP").is_visible()
    check_accessibility(page, "layar terkunci staf")
    lock.get_by_role("button", name="Keluar").click()
    page.locator("form#login-form").wait_for()


def test_a_reloaded_tab_keeps_its_session_and_a_closed_one_does_not(browser, stack):
    from tests.e2e.browser import DESKTOP, open_page

    nip = pegawai_of(stack, 2)
    context, page, watch = open_page(browser, DESKTOP, stack.url)
    try:
        log_in(page, nip, stack.seeded.password)
        page.reload()
        page.locator("#who").get_by_role("link", name="Akun saya").wait_for()
        # nothing of the session is in a cookie: another site's request carries no credential
        assert context.cookies() == []
        other = context.new_page()  # a new tab: sessionStorage is per tab
        other.goto(stack.url + "/#/akun")
        other.locator("form#login-form").wait_for()
        watch.check()
    finally:
        context.close()
