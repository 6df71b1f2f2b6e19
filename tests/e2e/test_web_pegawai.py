"""The pegawai's journeys in the web application (issue 16), in Debian's Chromium against the
deployed stack, at a phone's and a desktop's size: log in, Beranda, my record and a field's
history, a change proposed with a document; the catalogue's "am I eligible and what do I need",
a KGB request drafted with its uploads and submitted, seen in my requests with its timeline; a
request the OPD's fasilitator returned (through the API) fixed and resubmitted, its
notification read; a signed decree (made through the API as test_deployed_journeys does)
downloaded from "Dokumen saya". Every page opened is screenshotted and checked by axe-core; no
console error, CSP violation or request outside the gateway's origin."""

from __future__ import annotations

import itertools
import re

import pytest

from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    check_accessibility,
    open_page,
    screenshot,
)
from tests.e2e.harness import NEW_PASSWORD, register_pegawai, submit_kgb

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
_serial = itertools.count(701)  # this module's NIPs (born 1988-07-17); other files use their own
VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=lambda v: v.name)


@pytest.fixture
def open_app(stack, browser):
    """A fresh browser context on the stack at a viewport; fails on anything the page did wrong."""
    opened = []

    def make(viewport):
        context, page, watch = open_page(browser, viewport, stack.url)
        page.set_default_timeout(20_000)
        page.simasn_watch = watch  # read by allow_refusal()
        opened.append((context, watch))
        return page

    yield make
    for context, watch in opened:
        context.close()
        watch.check()


# -- data made through the API -------------------------------------------------------------------

def new_pegawai(stack, client) -> str:
    """An employee as BKD and the OPD register one (harness.register_pegawai)."""
    return register_pegawai(stack, f"19880717201003{2}{next(_serial):03d}", "dinkes",
                            admin=stack.login("admin.bkd"), registrar=stack.login("fas.dinkes1"),
                            address="Jl. Darmo 12, Surabaya")


def claimed(stack, client, rid: str, version: int) -> dict:
    answer = client.call("POST", f"/api/requests/{rid}/verification",
                         token=stack.login("fas.dinkes1"), body={"expected_version": version})
    assert answer.status == 200, answer.body
    return answer.body


# -- the browser's steps ------------------------------------------------------------------------

def step(page, name: str) -> None:
    """Wait for the page to settle, keep its screenshot, check its accessibility."""
    page.wait_for_selector("main .page h1")
    # no string evaluated as script: the page's CSP refuses eval (wait_for_function would)
    page.locator("main [aria-busy=true]").first.wait_for(state="detached")
    screenshot(page, name)
    check_accessibility(page, name)


def allow_refusal(page, status: int, path: str) -> None:
    """Chromium logs every 4xx answer as a console error: forgive exactly the refusal a step
    provoked on purpose, should the watch have recorded it (each other console error still
    fails the test)."""
    watch = page.simasn_watch
    watch.console_errors[:] = [e for e in watch.console_errors
                               if not (f"status of {status}" in e and path in e)]


def menu(page, name: str) -> None:
    page.locator("#nav").get_by_role("link", name=re.compile(f"^{name}")).click()


def log_in(page, nip: str, password: str) -> None:
    page.goto("/")
    page.get_by_label("NIP atau nama pengguna").fill(nip)
    page.get_by_label("Kata sandi").fill(password)
    page.locator("#login-form").get_by_role("button", name="Masuk").click()
    page.get_by_role("heading", name="Beranda").wait_for()


def pdf_file(marker: str) -> dict:
    return {"name": f"{marker}.pdf", "mimeType": "application/pdf",
            "buffer": pdf_with_text(marker=marker)}


# -- journeys -------------------------------------------------------------------------------------

@VIEWPORTS
def test_my_record_its_history_and_a_change_proposed_with_a_document(stack, client, open_app,
                                                                     viewport):
    nip = new_pegawai(stack, client)
    page = open_app(viewport)
    page.goto("/")
    step(page, "01-masuk")
    log_in(page, nip, NEW_PASSWORD)
    step(page, "02-beranda")
    assert page.locator("#beranda-ringkasan").is_visible()

    menu(page, "Data saya")
    page.get_by_role("heading", name="Data pokok").wait_for()
    step(page, "03-data-saya")
    assert page.get_by_text("Jl. Darmo 12, Surabaya").is_visible()
    assert page.get_by_role("heading", name="Gaji berkala").is_visible()

    page.get_by_role("link", name="Riwayat Alamat").click()
    page.get_by_role("heading", name="Riwayat Alamat").wait_for()
    step(page, "04-riwayat-alamat")
    assert page.get_by_role("cell", name="Jl. Darmo 12, Surabaya").first.is_visible()

    page.get_by_role("link", name="Kembali ke data saya").click()
    page.get_by_role("link", name="Usulkan perubahan data").click()
    page.get_by_role("heading", name="Usulkan perubahan data").wait_for()
    step(page, "05-usul-perubahan")
    new_address = f"Jl. Ahmad Yani 117, Surabaya ({viewport.name})"
    page.get_by_label("Alamat").fill(new_address)
    # a file that is no PDF: the gateway's refusal is shown, and nothing is proposed
    page.get_by_label("Dokumen pendukung").set_input_files(
        {"name": "ktp.pdf", "mimeType": "application/pdf", "buffer": b"bukan PDF sungguhan"})
    page.get_by_role("button", name="Kirim usulan").click()
    refusal = page.locator("#usul-form .problem")
    refusal.wait_for()
    assert refusal.get_attribute("data-code") not in ("error", "network", None)
    assert "PDF" in page.locator("#usul-form [data-field=documents] .field-error").inner_text()
    assert page.get_by_label("Dokumen pendukung").get_attribute("aria-invalid") == "true"
    allow_refusal(page, 422, "/api/documents")
    step(page, "05b-dokumen-ditolak")
    page.get_by_label("Dokumen pendukung").set_input_files(pdf_file(f"ktp-{nip}"))
    page.get_by_role("button", name="Kirim usulan").click()
    page.locator("#usulan-menunggu").wait_for()
    step(page, "06-usulan-menunggu")
    assert new_address in page.locator("#usulan-menunggu").inner_text()

    # the proposal the page sent is the record's pending change, with its document
    record = client.call("GET", f"/api/employees/{nip}", token=stack.login("fas.dinkes1"))
    assert record.status == 200
    [proposal] = record.body["proposals"]
    assert proposal["changes"] == {"address": new_address}
    assert len(proposal["documents"]) == 1


@VIEWPORTS
def test_the_catalogue_says_what_i_may_apply_for_and_a_request_is_submitted(stack, client,
                                                                            open_app, viewport):
    nip = new_pegawai(stack, client)
    page = open_app(viewport)
    log_in(page, nip, NEW_PASSWORD)
    menu(page, "Layanan")
    page.locator("#layanan-KGB").wait_for()
    step(page, "01-katalog")
    kgb = page.locator("#layanan-KGB")
    assert "memenuhi syarat" in kgb.inner_text()
    # a layanan this employee cannot apply for says why
    assert page.get_by_text("belum memenuhi syarat").count() > 0
    page.get_by_label("Tampilkan").select_option("memenuhi")
    assert page.locator("#layanan-KGB").is_visible()
    step(page, "02-katalog-memenuhi")

    page.locator("#layanan-KGB").get_by_role("link", name="Rincian syarat").click()
    page.get_by_role("heading", name="Syarat").wait_for()
    step(page, "02b-rincian-kgb")
    assert "Anda memenuhi syarat layanan ini" in page.locator("main").inner_text()
    page.locator("main").get_by_role("link", name="Ajukan", exact=True).click()
    page.locator("#ajukan-form").wait_for()
    step(page, "03-ajukan")
    inputs = page.locator("#ajukan-form input[type=file]")
    assert inputs.count() >= 2
    # every document but the last, kept as a draft ...
    for i in range(inputs.count() - 1):
        inputs.nth(i).set_input_files(pdf_file(f"kgb-{i}-{nip}"))
    last = inputs.nth(inputs.count() - 1).get_attribute("name")
    page.get_by_role("button", name="Simpan sebagai draf").click()
    page.locator("#draf-form").wait_for()
    step(page, "04-draf")
    assert "draf" in page.locator("#status-usulan").inner_text()
    # ... completed with the last one on the request's page, and submitted
    page.locator(f"#draf-form input[name={last}]").set_input_files(pdf_file(f"kgb-last-{nip}"))
    page.locator("#draf-form").get_by_role("button", name="Ajukan usulan").click()
    page.locator("#draf-form").wait_for(state="detached")
    page.locator("#jejak-usulan").wait_for()
    step(page, "05-usulan-diajukan")
    assert "diajukan" in page.locator("#status-usulan").inner_text()
    trail = page.locator("#jejak-usulan").inner_text()
    assert "Draf dibuat" in trail and "Dokumen diubah" in trail and "Diajukan" in trail
    rid = page.url.rsplit("/", 1)[-1]

    menu(page, "Usulan saya")
    page.get_by_role("link", name="Kenaikan Gaji Berkala", exact=False).first.wait_for()
    step(page, "06-usulan-saya")
    mine = client.call("GET", "/api/me/requests", token=stack.login(nip, NEW_PASSWORD))
    assert [(r["request_id"], r["state"]) for r in mine.body["items"]] == [(rid, "submitted")]
    assert page.locator(f"a[href='#/pegawai/usulan/{rid}']").count() == 1


@VIEWPORTS
def test_a_returned_request_is_fixed_and_its_notification_read(stack, client, open_app,
                                                              viewport):
    nip = new_pegawai(stack, client)
    rid, docs, submitted = submit_kgb(stack, nip, stack.login(nip, NEW_PASSWORD))
    taken = claimed(stack, client, rid, submitted["version"])
    returned_doc = sorted(docs)[0]
    back = client.call("POST", f"/api/requests/{rid}/return", token=stack.login("fas.dinkes1"),
                       body={"expected_version": taken["version"],
                             "documents": {returned_doc: "pindaian buram, unggah ulang"}})
    assert back.status == 200 and back.body["state"] == "returned", back.body
    token = stack.login(nip, NEW_PASSWORD)
    wait_for(lambda: client.call("GET", "/api/me/inbox?unread_only=true", token=token).body,
             timeout=30, message="the pegawai is told the request was returned")

    page = open_app(viewport)
    log_in(page, nip, NEW_PASSWORD)
    page.get_by_text("1 usulan dikembalikan untuk perbaikan").wait_for()
    step(page, "01-beranda-dikembalikan")

    menu(page, "Pemberitahuan")
    page.locator(".peg-inbox li.unread").first.wait_for()
    step(page, "02-pemberitahuan")
    unread = page.locator(".peg-inbox li.unread").count()
    first_unread = page.locator(".peg-inbox li.unread").first
    first_unread.get_by_role("button", name="Tandai sudah dibaca").click()
    wait_for(lambda: page.locator(".peg-inbox li.unread").count() == unread - 1, timeout=10,
             message="the notification shows as read")
    assert len(client.call("GET", "/api/me/inbox?unread_only=true", token=token).body) \
        == unread - 1

    page.locator(".peg-inbox li").filter(has_text="kembali").get_by_role(
        "link", name="Buka usulan").first.click()
    page.locator("#perbaikan").wait_for()
    step(page, "03-perbaikan")
    assert "pindaian buram" in page.locator("#perbaikan").inner_text()
    page.locator("#perbaikan-form input[type=file]").set_input_files(pdf_file(f"ulang-{nip}"))
    page.get_by_role("button", name="Kirim perbaikan dan ajukan kembali").click()
    page.locator("#perbaikan").wait_for(state="detached")
    page.locator("#jejak-usulan").wait_for()
    step(page, "04-diajukan-kembali")
    after = client.call("GET", f"/api/requests/{rid}", token=token).body
    assert after["state"] == "submitted"
    assert after["documents"][returned_doc] != docs[returned_doc]
    assert "Dikembalikan untuk perbaikan" in page.locator("#jejak-usulan").inner_text()


@VIEWPORTS
def test_my_signed_decree_is_downloaded(stack, client, open_app, viewport):
    nip = new_pegawai(stack, client)
    rid, docs, submitted = submit_kgb(stack, nip, stack.login(nip, NEW_PASSWORD))
    taken = claimed(stack, client, rid, submitted["version"])
    verdict = {"original": True, "legible": True, "matches_record": True}
    verified = client.call("POST", f"/api/requests/{rid}/verify", token=stack.login("fas.dinkes1"),
                           body={"expected_version": taken["version"],
                                 "checks": {c: verdict for c in docs}})
    assert verified.status == 200, verified.body
    approved = client.call("POST", f"/api/requests/{rid}/decision",
                           token=stack.login("admin.bkd"), body={
                               "expected_version": verified.body["version"], "approve": True,
                               "reason": "memenuhi syarat KGB",
                               "outcome": {"tmt": "2026-04-01", "gaji_pokok": 4_150_000}})
    assert approved.status == 200, approved.body
    token = stack.login(nip, NEW_PASSWORD)
    wait_for(lambda: client.call("GET", f"/api/requests/{rid}", token=token).body["state"]
             == "completed", timeout=90, message="the letter is signed and the request completed")
    output = client.call("GET", f"/api/requests/{rid}/output", token=token).body

    page = open_app(viewport)
    log_in(page, nip, NEW_PASSWORD)
    menu(page, "Dokumen saya")
    page.get_by_role("caption").wait_for()
    step(page, "01-dokumen-saya")
    assert output["number"] in page.locator("main").inner_text()
    with page.expect_download() as downloading:
        page.get_by_role("button", name=re.compile("^Unduh PDF")).first.click()
    letter = downloading.value
    assert letter.suggested_filename.endswith(".pdf")
    with open(letter.path(), "rb") as saved:
        assert saved.read(5) == b"%PDF-"

    page.goto(f"/#/pegawai/usulan/{rid}")
    page.locator("#keluaran").wait_for()
    step(page, "02-usulan-selesai")
    assert "selesai" in page.locator("#status-usulan").inner_text()
    with page.expect_download() as again:
        page.get_by_role("button", name="Unduh PDF bertanda tangan").click()
    with open(again.value.path(), "rb") as saved:
        assert saved.read(5) == b"%PDF-"


@VIEWPORTS
def test_a_data_request_asks_my_consent_and_i_answer_it(stack, client, open_app, viewport):
    """DINDIK's fasilitator asks for a DINKES pegawai's data (issue 17 part 2); BKD approves;
    the pegawai is told in Pemberitahuan, opens Persetujuan data, refuses with a reason, then
    changes their mind and consents — each answer is what the API holds."""
    nip = new_pegawai(stack, client)
    requester = stack.login("fas.dindik1")
    filed = client.call("POST", "/api/data-requests", token=requester, body={
        "organisation": "Dinas Pendidikan (kajian lintas OPD)",
        "purpose": "pemetaan tenaga kesehatan sekolah", "fields": ["name", "golongan"],
        "population": {"nips": [nip]}, "period_from": "2026-12-01",
        "period_until": "2027-03-31"})
    assert filed.status == 201, filed.body
    rid = filed.body["request_id"]
    admin = stack.login("admin.bkd")
    wait_for(lambda: client.call("POST", f"/api/data-requests/{rid}/decision", token=admin,
                                 body={"approve": True, "reason": "sesuai SOP"}).status == 200,
             timeout=60, message="approved once the employee list holds the pegawai")
    token = stack.login(nip, NEW_PASSWORD)
    wait_for(lambda: any(n["event"] == "ConsentRequested" for n in client.call(
        "GET", "/api/me/inbox", token=token).body), timeout=60,
             message="the pegawai is told of the consent asked")

    page = open_app(viewport)
    log_in(page, nip, NEW_PASSWORD)
    menu(page, "Pemberitahuan")
    page.locator(".peg-inbox li").filter(has_text="Permintaan persetujuan data").get_by_role(
        "link", name="Buka persetujuan data").click()
    card = page.locator(f"li[data-id='{rid}']")
    card.wait_for()
    step(page, "persetujuan-01-diminta")
    assert "pemetaan tenaga kesehatan sekolah" in card.inner_text()
    assert "Nama, Golongan" in card.inner_text()

    card.get_by_label("Alasan menolak (tidak wajib)").fill("data saya tidak untuk kajian ini")
    card.get_by_role("button", name="Tolak").click()
    page.locator(f"li[data-id='{rid}'][data-consent='refused']").wait_for()
    step(page, "persetujuan-02-ditolak")
    (mine,) = client.call("GET", "/api/me/consents", token=token).body
    assert mine["consent"] == "refused"

    page.locator(f"li[data-id='{rid}']").get_by_role("button", name="Setuju").click()
    page.locator(f"li[data-id='{rid}'][data-consent='given']").wait_for()
    step(page, "persetujuan-03-disetujui")
    (mine,) = client.call("GET", "/api/me/consents", token=token).body
    assert mine["consent"] == "given"
