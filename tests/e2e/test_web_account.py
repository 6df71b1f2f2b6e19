"""Akun saya and the public pages in the browser (issue 16): a pegawai sees their sessions per
device and ends another one (that device is out at once), changes their contact and password
(confirmed by the current one); anyone checks an uploaded PDF (nothing signed by us: TIDAK SAH)
and reads the public statistics — at both sizes, accessible, nothing from elsewhere."""

import itertools

import pytest

from tests.document_samples import pdf_with_text
from tests.e2e.browser import check_accessibility, screenshot
from tests.e2e.harness import NEW_PASSWORD, register_pegawai
from tests.e2e.test_web_shell import log_in

pytestmark = pytest.mark.browser
_serial = itertools.count(801)  # this module's NIPs (born 1990-02-14); other files use their own
CHANGED = "Soto-Lamongan-2027!"


def new_pegawai(stack) -> str:
    return register_pegawai(stack, f"19900214201503{2}{next(_serial):03d}", "dinkes",
                            admin=stack.login("admin.bkd"), registrar=stack.login("fas.dinkes1"),
                            name="Rini Astuti", tmt_cpns="2015-03-01")


def test_my_sessions_contact_and_password(page, stack, client):
    nip = new_pegawai(stack)
    other = client.call("POST", "/api/auth/login", body={
        "login": nip, "password": NEW_PASSWORD, "device": "Ponsel lama"})
    assert other.status == 200, other.body
    log_in(page, nip, NEW_PASSWORD)
    page.goto("/#/akun")
    page.get_by_role("heading", name="Akun saya").wait_for()
    sessions = page.get_by_role("region", name="Sesi yang masih berlaku")
    sessions.get_by_text("sesi ini").wait_for()
    assert sessions.get_by_text("Ponsel lama").is_visible()
    screenshot(page, "akun")
    check_accessibility(page, "akun saya")

    # the other device's session ends at once
    sessions.get_by_role("button", name="Akhiri sesi Ponsel lama").click()
    page.get_by_text("Sesi diakhiri.").wait_for()
    assert client.call("GET", "/api/me", token=other.body["access_token"]).status == 401
    sessions.get_by_text("Ponsel lama").wait_for(state="detached")  # the list read again

    contact = page.locator("form#contact-form")
    contact.get_by_label("Nomor telepon").fill("081234567890")
    contact.get_by_label("Kata sandi saat ini (konfirmasi)").fill("bukan-sandinya-123")
    contact.get_by_role("button", name="Simpan kontak").click()
    contact.locator(".field-error, .problem").first.wait_for()  # refused, on the form
    contact.get_by_label("Kata sandi saat ini (konfirmasi)").fill(NEW_PASSWORD)
    contact.get_by_role("button", name="Simpan kontak").click()
    page.get_by_text("Kontak tersimpan.").wait_for()

    password = page.locator("form#password-form")
    password.get_by_label("Kata sandi saat ini").fill(NEW_PASSWORD)
    password.get_by_label("Kata sandi baru").fill(CHANGED)
    password.get_by_role("button", name="Ganti kata sandi").click()
    page.get_by_text("Kata sandi diganti.").wait_for()
    screenshot(page, "sandi-diganti")
    assert client.call("POST", "/api/auth/login", body={
        "login": nip, "password": CHANGED, "device": "uji"}).status == 200
    assert client.call("POST", "/api/auth/login", body={
        "login": nip, "password": NEW_PASSWORD, "device": "uji"}).status == 401


def test_anyone_checks_an_uploaded_pdf_and_reads_the_public_statistics(page, stack):
    page.goto("/#/verifikasi")
    form = page.locator("form#verify-form")
    form.get_by_label("Berkas PDF").set_input_files(files=[{
        "name": "surat.pdf", "mimeType": "application/pdf",
        "buffer": pdf_with_text(marker="bukan dokumen SIMASN")}])
    form.get_by_role("button", name="Periksa").click()
    verdict = page.locator(".verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-status") == "not_valid"
    assert "TIDAK SAH" in verdict.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "verifikasi-unggah")
    check_accessibility(page, "verifikasi unggah")

    page.goto("/#/statistik")
    page.get_by_role("heading", name="Statistik ASN Jawa Timur").wait_for()
    tables = page.locator("table")
    tables.first.wait_for()
    expected = client_tables(stack)
    assert tables.count() == expected
    screenshot(page, "statistik")
    check_accessibility(page, "statistik publik")


def client_tables(stack) -> int:
    answer = stack.client().call("GET", "/api/public/statistics")
    assert answer.status == 200, answer.body
    return sum(1 for t in answer.body["tables"] if t["cells"])
