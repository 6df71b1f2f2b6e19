"""The fasilitator's journeys in a real browser (Debian's chromium driven by Playwright) against the
stack as `make up` starts it, on a phone and on a desktop: the OPD dashboard, the queue, a request
claimed and its documents read in the page's viewer (a PDF drawn onto a canvas, a scan as an
image) beside the record and verified; another returned with a reason per document after a fake
document is reported; the OPD's employees searched, a record opened and a change proposal
applied; a bulk import and its report; the staff list of requests. Each page is screenshotted and
checked with axe-core. The data a journey starts from is made through the API; only the step under
test goes through the page.

Each viewport logs in once (a TOTP code is single-use per 30 s step per account) as a fasilitator
no other test logs in through a page: fas.dindik2 on the phone, fas.rsud-soetomo1 on the desktop.
"""

from __future__ import annotations

import itertools
import re

import pytest

from shared.testing import wait_for
from tests.document_samples import _jpeg, _scanned_page
from tests.e2e.browser import DESKTOP, PHONE, check_accessibility, open_page, screenshot
from tests.e2e.harness import NEW_PASSWORD, register_pegawai, submit_kgb, wait_next_totp_step

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
VIEWPORTS = {"phone": (PHONE, "fas.dindik2", "dindik", "fas.dindik1"),
             "desktop": (DESKTOP, "fas.rsud-soetomo1", "rsud-soetomo", "fas.dinkes2")}
_serial = itertools.count(601)  # this module's NIPs (other files use their own ranges)


# -- data made through the API -----------------------------------------------------------------

def _new_nip() -> str:
    return f"19870521201103{2}{next(_serial):03d}"


def _new_pegawai(stack, client, opd: str, registrar: str) -> str:
    """A pegawai of `opd` (harness.register_pegawai): activated, a record with a KGB due."""
    return register_pegawai(stack, _new_nip(), opd, admin=stack.login("admin.bkd"),
                            registrar=stack.login(registrar), tmt_cpns="2011-03-01")


def _scan_first(index: int, code: str):
    """The first document a JPEG scan (harness.submit_kgb's `upload`), the others PDFs."""
    return (_jpeg(_scanned_page()), "image/jpeg") if index == 0 else None


def _request(stack, client, rid: str) -> dict:
    answer = client.call("GET", f"/api/requests/{rid}", token=stack.login("admin.bkd"))
    assert answer.status == 200, answer.body
    return answer.body


# -- the browser, logged in once per viewport ---------------------------------------------------

@pytest.fixture(scope="module", params=list(VIEWPORTS))
def fas(request, stack, browser):
    """(page, viewport name, login, OPD, registrar): a page logged in as the viewport's
    fasilitator through the login form and its OTP step."""
    name = request.param
    viewport, login, opd, registrar = VIEWPORTS[name]
    context, page, watch = open_page(browser, viewport, stack.url)
    page.goto(stack.url + "/#/masuk")
    page.get_by_label("NIP atau nama pengguna").fill(login)
    page.get_by_label("Kata sandi").fill(stack.seeded.password)
    page.get_by_role("button", name="Masuk").click()
    for attempt in range(2):
        page.get_by_label("Kode OTP").fill(stack.otp(login))
        page.get_by_role("button", name="Masuk").click()
        heading = page.get_by_role("heading", level=1)
        try:
            heading.filter(has_text="Dasbor OPD").wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - the step's code was used: the next step's
            if attempt:
                raise
            wait_next_totp_step()
    # the password step is answered 401 totp_required by design (the API asks for the code),
    # which the browser logs as a failed resource; nothing else may be
    watch.console_errors[:] = [e for e in watch.console_errors
                               if not ("401" in e and "/api/auth/login" in e)]
    try:
        yield page, name, login, opd, registrar
        watch.check()
    finally:
        context.close()


def _open(page, stack, path: str, heading: str):
    page.goto(f"{stack.url}/#{path}")
    page.get_by_role("heading", level=1, name=heading).wait_for()
    page.locator("[aria-busy=true]").first.wait_for(state="detached", timeout=30_000)


def _step(page, name: str, shot: str):
    """A screenshot, axe-core, and nothing wider than the screen (a 360 px phone included)."""
    screenshot(page, f"fasilitator-{shot}")
    check_accessibility(page, shot)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), shot


# -- the journeys ------------------------------------------------------------------------------

def test_a_request_is_claimed_read_in_the_viewer_and_verified(stack, client, fas):
    page, name, _, opd, registrar = fas
    nip = _new_pegawai(stack, client, opd, registrar)
    pegawai = stack.login(nip, NEW_PASSWORD)
    rid, docs, _ = submit_kgb(stack, nip, pegawai)

    _open(page, stack, "/fasilitator/antrean", "Antrean verifikasi")
    row = page.locator("tr", has_text=nip)
    wait_for(lambda: _reload_until(page, stack, row), timeout=30, message="the request queued")
    _step(page, name, "antrean")
    row.get_by_role("button", name=re.compile("^Ambil")).click()
    page.get_by_role("heading", level=1, name="Verifikasi usulan").wait_for()
    page.locator("#verify-form").wait_for()
    # every document drawn onto a canvas by pdf.js: pixels that are not all white
    canvases = page.locator("canvas[data-drawn=true]")
    canvases.nth(len(docs) - 1).wait_for(timeout=30_000)
    assert canvases.count() >= len(docs)
    assert page.evaluate("""() => [...document.querySelectorAll('canvas[data-drawn=true]')]
        .every((c) => {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4) { if (d[i] < 128) return true; }
          return false; })""")
    assert page.get_by_role("heading", name="Data pegawai").is_visible()
    docs_box = page.locator(".verify-docs").bounding_box()
    record_box = page.locator(".verify-record").bounding_box()
    if name == "desktop":  # side by side: the record beside the documents
        assert record_box["x"] >= docs_box["x"] + docs_box["width"] - 1
        assert record_box["y"] < docs_box["y"] + docs_box["height"]
    else:  # one column on a phone: the record after the documents
        assert record_box["y"] >= docs_box["y"] + docs_box["height"] - 1
    _step(page, name, "verifikasi")

    # verifying without a check is refused in the page, before the API is asked
    page.get_by_role("button", name="Nyatakan terverifikasi").click()
    page.locator("#verify-form .problem").get_by_text("Penilaian belum lengkap").wait_for()
    for box in page.locator("#verify-form input[type=checkbox]").all():
        box.check()
    page.get_by_role("button", name="Nyatakan terverifikasi").click()
    page.locator(".badge", has_text="Menunggu keputusan BKD").first.wait_for()
    assert _request(stack, client, rid)["state"] == "under_approval"
    _step(page, name, "terverifikasi")


def _reload_until(page, stack, locator) -> bool:
    if locator.count():
        return True
    page.reload()
    page.get_by_role("heading", level=1).wait_for()
    page.locator("[aria-busy=true]").first.wait_for(state="detached", timeout=30_000)
    return locator.count() > 0


def test_a_fake_document_is_reported_and_the_request_returned_with_a_reason(stack, client, fas):
    page, name, _, opd, registrar = fas
    nip = _new_pegawai(stack, client, opd, registrar)
    pegawai = stack.login(nip, NEW_PASSWORD)
    rid, docs, _ = submit_kgb(stack, nip, pegawai, upload=_scan_first)
    first, *_ = docs

    _open(page, stack, f"/fasilitator/usulan/{rid}", "Verifikasi usulan")
    page.get_by_role("button", name="Ambil dan mulai verifikasi").click()
    page.locator("#verify-form").wait_for()
    # the scan is an image from a blob URL
    image = page.locator(f'.doc-card[data-document="{first}"] .viewer img')
    image.wait_for()
    assert image.get_attribute("src").startswith("blob:")
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", image.element_handle())

    card = page.locator(f'.doc-card[data-document="{first}"]')
    card.get_by_role("button", name="Laporkan dokumen tidak asli").click()
    card.get_by_label(re.compile("dinilai tidak asli")).fill(
        "Nomor SK tidak terdaftar di BKD; tanda tangan hasil pindaian")
    card.get_by_role("button", name="Kirim laporan").click()
    card.get_by_text("Laporan dokumen tidak asli terkirim ke BKD").wait_for()
    _step(page, name, "laporan-palsu")
    cases = client.call("GET", "/api/verification/fake-documents", token=stack.login("admin.bkd"))
    assert any(c["request_id"] == rid and c["document"] == first for c in cases.body), cases.body

    # returning without a reason is refused in the page; with one, the request is returned
    page.get_by_role("button", name="Kembalikan untuk perbaikan").click()
    page.locator("#verify-form .problem").get_by_text("Alasan belum diisi").wait_for()
    page.locator(f'fieldset[data-document="{first}"]').get_by_label(
        re.compile("Alasan dikembalikan")).fill("Dokumen tidak asli; unggah SK asli yang dipindai")
    page.get_by_role("button", name="Kembalikan untuk perbaikan").click()
    page.locator(".badge", has_text="Dikembalikan").first.wait_for()
    returned = _request(stack, client, rid)
    assert returned["state"] == "returned"
    assert returned["returns"][-1][first] == "Dokumen tidak asli; unggah SK asli yang dipindai"
    _step(page, name, "dikembalikan")


def test_dashboard_shows_completeness_queue_and_sla(stack, fas):
    page, name, *_ = fas
    _open(page, stack, "/fasilitator", "Dasbor OPD")
    tiles = page.locator("#dashboard-tiles")
    assert tiles.get_by_text("Item di antrean").is_visible()
    table = page.get_by_role("table", name="Kelengkapan data dan dokumen pegawai per OPD")
    table.wait_for()
    assert table.locator("tbody tr").count() >= 1
    # this module's verified and returned requests are in the OPD's workload (read model)
    workload = page.get_by_role("table", name=re.compile("Beban verifikasi")).locator("tbody tr")
    wait_for(lambda: _reload_until(page, stack, workload), timeout=60,
             message="the OPD's workload in the monev read model")
    # the menu of the role: every fasilitator page
    nav = page.get_by_role("navigation", name="Menu utama")
    for entry in ("Dasbor OPD", "Antrean verifikasi", "Daftar usulan", "Dokumen keluaran",
                  "Pegawai OPD", "Impor data pegawai"):
        assert nav.get_by_role("link", name=entry).count() == 1, entry
    _step(page, name, "dasbor")


def test_the_opd_s_employees_a_record_and_a_change_proposal_applied(stack, client, fas):
    page, name, _, opd, registrar = fas
    nip = _new_pegawai(stack, client, opd, registrar)
    pegawai = stack.login(nip, NEW_PASSWORD)
    proposal = client.call("POST", f"/api/employees/{nip}/proposals", token=pegawai,
                           body={"changes": {"address": "Jl. Darmo 12, Surabaya"}})
    assert proposal.status == 201, proposal.body

    admin = stack.login("admin.bkd")
    wait_for(lambda: client.call("GET", f"/api/employees?nip={nip}", token=admin)
             .body["items"], timeout=90, message="the new employee in the search read model")

    _open(page, stack, "/fasilitator/pegawai", "Pegawai OPD")
    page.get_by_label("NIP", exact=True).fill(nip)
    page.get_by_role("button", name="Cari").click()
    link = page.get_by_role("link", name=nip)
    link.wait_for()
    _step(page, name, "pegawai")
    link.click()
    page.get_by_role("heading", level=1, name="Data pegawai").wait_for()
    page.get_by_text("1 usulan perubahan data menunggu").wait_for()
    assert page.get_by_role("cell", name="Jl. Darmo 12, Surabaya").is_visible()
    _step(page, name, "data-pegawai")
    apply = page.locator(f"form#decide-{proposal.body['change_id']}-apply")
    apply.get_by_label("Alasan menerapkan").fill("sesuai KTP terbaru")
    apply.get_by_role("button", name="Terapkan perubahan").click()
    page.get_by_text("Perubahan diterapkan pada data pegawai.").wait_for()
    record = client.call("GET", f"/api/employees/{nip}", token=pegawai).body
    assert record["address"] == "Jl. Darmo 12, Surabaya" and not record["proposals"]


def test_a_bulk_import_and_its_report(stack, client, fas, tmp_path):
    page, name, _, opd, _ = fas
    good, bad = _new_nip(), _new_nip()
    csv = tmp_path / f"pegawai-{opd}.csv"
    csv.write_text("NIP;Nama;Tanggal Lahir;Jenis Kelamin;Status;TMT CPNS;Gol\n"
                   f"{good};Rina Wulandari;1987-05-21;P;PNS;2011-03-01;III/a\n"
                   f"{bad};Agus Salim;1987-05-21;X;PNS;2011-03-01;III/a\n")
    _open(page, stack, "/fasilitator/impor", "Impor data pegawai")
    page.get_by_label("OPD").select_option(opd)
    page.get_by_label("Berkas CSV atau XLSX").set_input_files(str(csv))
    _step(page, name, "impor")
    page.get_by_role("button", name="Unggah dan impor").click()
    page.get_by_role("heading", level=1, name="Laporan impor").wait_for()
    page.locator("#import-status[data-status=completed]").wait_for(timeout=60_000)
    tiles = page.locator("#import-tiles")
    assert tiles.locator(".tile", has_text="Pegawai baru").locator(".value").inner_text() == "1"
    assert tiles.locator(".tile", has_text="Baris bermasalah").locator(".value").inner_text() == "1"
    problems = page.get_by_role("table", name=re.compile("Masalah per baris"))
    assert problems.locator("tbody tr").count() == 1
    assert bad in problems.inner_text() and "gender" in problems.inner_text()
    _step(page, name, "laporan-impor")
    record = client.call("GET", f"/api/employees/{good}", token=stack.login("admin.bkd"))
    assert record.status == 200 and record.body["name"] == "Rina Wulandari"


def test_the_staff_list_of_requests_filters_by_state(stack, client, fas):
    page, name, _, opd, _ = fas
    _open(page, stack, "/fasilitator/usulan", "Daftar usulan")
    table = page.get_by_role("table", name="Usulan layanan")
    table.wait_for()
    assert table.locator("tbody tr").count() >= 2  # this module's verified and returned ones
    page.get_by_label("Status").select_option("returned")
    page.get_by_role("button", name="Cari").click()
    page.wait_for_url(re.compile(r"state=returned"))
    page.get_by_role("table", name="Usulan layanan").wait_for()
    rows = page.get_by_role("table", name="Usulan layanan").locator("tbody tr")
    assert rows.count() >= 1
    assert all("Dikembalikan" in rows.nth(i).inner_text() for i in range(rows.count()))
    _step(page, name, "daftar-usulan")
