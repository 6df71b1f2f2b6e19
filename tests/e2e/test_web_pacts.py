"""Pakta integritas (issue 17 part 5) in the browser: a seeded fasilitator sees the pact recorded
from paper for their role, withdraws it (the role stops: the menu offers only the pact page),
signs a new one with password and OTP (a signed document), and the role works again; at both
sizes, accessible."""

import pytest

from tests.e2e.browser import check_accessibility, screenshot
from tests.e2e.test_web_shell import log_in

pytestmark = pytest.mark.browser
#: one seeded fasilitator per size (no other browser test logs them in)
FASILITATOR = {"phone": "fas.dinsos1", "desktop": "fas.bappeda1"}


def test_a_fasilitator_withdraws_and_signs_the_integrity_pact(page, stack, viewport):
    login = FASILITATOR[viewport.name]
    log_in(page, login, stack.seeded.password, stack.otp(login))
    page.goto("/#/pakta")
    page.get_by_role("heading", name="Pakta integritas", exact=True).wait_for()
    rows = page.locator("table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1 and "Pakta kertas" in rows.first.inner_text()
    assert "Berlaku" in rows.first.inner_text()

    page.once("dialog", lambda dialog: dialog.accept("pindah tugas"))
    rows.first.get_by_role("button", name="Tarik pakta Fasilitator OPD").click()
    page.locator("#pact-waiting").wait_for()  # the principal now holds the role unsigned
    page.get_by_text("Ditarik").first.wait_for()
    titles = page.locator("#nav .menu-title")
    assert titles.all_text_contents() == ["Menunggu pakta integritas"]
    assert not page.locator("#nav").get_by_role("link", name="Dasbor OPD").count()

    form = page.locator("form#pact-form")
    form.get_by_label("Peran").select_option("fasilitator")
    form.get_by_label("Kata sandi").fill(stack.seeded.password)
    form.get_by_label("Kode OTP").fill(stack.otp(login))
    form.get_by_role("button", name="Tandatangani pakta").click()
    page.get_by_text("Dokumen bertanda tangan").first.wait_for()
    page.locator("#pact-waiting").wait_for(state="detached")
    assert rows.count() == 2 and "Berlaku" in rows.first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "pakta-integritas")
    check_accessibility(page, "pakta integritas")
    assert titles.all_text_contents() == ["Fasilitator"]
