"""BKD's areas in the browser (issue 16), on the deployed stack at phone and desktop size: the
kabupaten/kota feeds (the regions, one region's status and quarantine, its reconciliation and
the differences it found), and reports with their chart and exports (CSV, XLSX, PDF, and an
official list's signed PDF) downloaded through the export's progress state. The region, its
events, its snapshot and the reconciliation are made through the API as a region and BKD make
them (tests/e2e/test_deployed_sync.py); in the page only the reading, BKD's decisions (one
quarantined event skipped and one retried, a difference decided, applied, the reconciliation
closed with a signed berita acara) and the exports. Every page is screenshotted and checked
for accessibility."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest

from shared.testing import wait_for
from tests.e2e.browser import check_accessibility, screenshot
from tests.e2e.test_web_auditor import api_token, staff_login
from tests.identity_helpers import unique_nip
from tests.sync_helpers import change, onboard, sync_log

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
ADMIN = "admin.bkd"
#: one kabupaten/kota per viewport (no other end-to-end test onboards them)
REGIONS = {"phone": "3576", "desktop": "3577"}


def reconciled(stack, code: str, tmp_path) -> tuple[str, str]:
    """Region `code` onboarded, two changes of employees nobody registered sent (both
    quarantined), its one-row snapshot loaded and reconciled for 2026: the row's NIP (unknown to
    the province: a missing_in_records difference) and the reconciliation id."""
    client, admin = stack.client(), api_token(stack, ADMIN)
    region = onboard(client, admin, code)
    status, sent = region.send([change(1, unique_nip()), change(2, unique_nip())])
    assert status == 200, sent
    nip = f"199001012020121{uuid.uuid4().int % 1000:03d}"
    path = tmp_path / "pegawai.csv"
    path.write_text("nip,nama,tanggal_lahir,jenis_kelamin,status\n"
                    f"{nip},Bagus Prakoso,1990-01-01,L,PNS\n", encoding="utf-8")
    status, snapshot = region.snapshot(path)
    assert status == 202, snapshot
    wait_for(lambda: region.get(f"snapshots/{snapshot['snapshot_id']}")[1]["status"] ==
             "loaded", timeout=60, message="the snapshot loaded")
    base = f"/api/sync/regions/{code}/reconciliations"
    started = client.call("POST", base, token=admin,
                          body={"snapshot_id": snapshot["snapshot_id"], "year": 2026})
    assert started.status == 202, started.body
    rid = started.body["reconciliation_id"]
    wait_for(lambda: client.call("GET", f"{base}/{rid}", token=admin).body["status"] ==
             "reported", timeout=60, message="the reconciliation reported")
    wait_for(lambda: len(client.call("GET", f"/api/sync/regions/{code}/quarantine",
                                     token=admin).body) == 2,
             timeout=60, message="both changes quarantined")
    return nip, rid


def fits(page) -> bool:
    """Nothing scrolls the page sideways (a wide table scrolls inside its own box)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_administrator_settles_a_regions_quarantine_and_reconciliation(page, stack, viewport,
                                                                         tmp_path):
    code = REGIONS[viewport.name]
    nip, rid = reconciled(stack, code, tmp_path)
    client, admin = stack.client(), api_token(stack, ADMIN)
    staff_login(page, stack, ADMIN)
    page.locator("#nav").get_by_role("link", name="Sinkronisasi daerah").click()
    regions = page.get_by_role("table", name="Daerah terdaftar", exact=False)
    regions.wait_for()
    row = regions.locator("tbody tr", has_text=f"({code})")
    assert "2 dikarantina" in row.inner_text()
    screenshot(page, "daerah")
    check_accessibility(page, "daftar daerah")

    # the quarantine: one event skipped, the other applied again as it is, each with a reason
    row.get_by_role("link").click()
    page.get_by_role("heading", name="Status umpan").wait_for()
    quarantine = page.get_by_role("table", name="Peristiwa yang dikarantina")
    assert quarantine.locator("tbody tr").count() == 2
    snapshots = page.get_by_role("table", name="Snapshot lengkap yang dikirim daerah")
    assert "Dimuat" in snapshots.inner_text()
    assert page.locator("form#reconcile-form").is_visible()  # BKD may start another
    assert fits(page)
    screenshot(page, "status-daerah")
    check_accessibility(page, "status daerah")
    for sequence, action, reason, said in (
            (1, "Lewati", "pegawai sudah pindah ke luar Jawa Timur", "dilewati"),
            (2, "Terapkan ulang", "data pegawai sudah dibetulkan", "menunggu diterapkan ulang")):
        page.get_by_role("button", name=f"{action} urutan {sequence}").click()
        prompt = quarantine.locator("form.inline-form")
        prompt.get_by_label("Alasan").fill(reason)
        if sequence == 1:
            check_accessibility(page, "alasan karantina")
            screenshot(page, "karantina-alasan")
        prompt.get_by_role("button", name=action).click()
        page.locator("#toast").get_by_text(f"Urutan {sequence} {said}.").wait_for()
        page.get_by_role("heading", name="Status umpan").wait_for()  # the page drawn again
    decided = {(e["type"], e["sequence"]): e["reason"]
               for e in sync_log(stack.database_url, code)
               if e["type"] in ("SyncQuarantineSkipped", "SyncQuarantineRetried")}
    assert decided == {("SyncQuarantineSkipped", 1): "pegawai sudah pindah ke luar Jawa Timur",
                       ("SyncQuarantineRetried", 2): "data pegawai sudah dibetulkan"}, decided
    # the retried change is refused again (its employee is still unknown): back in quarantine
    wait_for(lambda: [e["sequence"] for e in client.call(
        "GET", f"/api/sync/regions/{code}/quarantine", token=admin).body] == [2],
        timeout=60, message="the retried change quarantined again, the skipped one gone")

    # the reconciliation: the difference decided, the decision applied, the berita acara signed
    page.get_by_role("link", name="Rekonsiliasi 2026").click()
    differences = page.get_by_role("table", name="Selisih data daerah dan provinsi")
    differences.wait_for()
    found = differences.locator("tbody tr", has_text=nip)
    assert "Ada di daerah, tidak ada di provinsi" in found.inner_text()
    assert fits(page), "the differences table widens the page"
    if viewport.name == "phone":  # wider than the screen: it scrolls inside its own box
        assert differences.locator("xpath=..").evaluate("(w) => w.scrollWidth > w.clientWidth")
    screenshot(page, "rekonsiliasi")
    check_accessibility(page, "rekonsiliasi")
    found.get_by_label("Keputusan selisih", exact=False).select_option("take_region")
    found.get_by_text("Tersimpan.").wait_for()
    base = f"/api/sync/regions/{code}/reconciliations/{rid}"
    assert [d["decision"] for d in client.call("GET", f"{base}/decisions", token=admin).body] \
        == ["take_region"]
    page.locator("#apply-form button[type=submit]").click()
    form = page.locator("#berita-acara-form")
    form.wait_for(timeout=60_000)  # the page follows the applying until it is done
    applied = client.call("GET", f"{base}/decisions", token=admin).body[0]
    assert applied["applied_at"], applied
    outcome = ("ditolak data pegawai" if applied["applied_outcome"]["status"] == "refused"
               else "diterapkan")
    differences = page.get_by_role("table", name="Selisih data daerah dan provinsi")
    assert outcome in differences.locator("tbody tr", has_text=nip).inner_text()
    form.get_by_label("Tanggal rapat").fill("2026-12-04")
    form.get_by_label("Tempat rapat").fill("Ruang Rapat BKD Provinsi Jawa Timur")
    form.get_by_label("Peserta rapat").fill(
        "Dr. Budi Santoso; Kepala BKD; Pemerintah Provinsi Jawa Timur\n"
        "Sri Wahyuni, S.Kom.; Kepala Bidang Informasi; BKPSDM daerah")
    form.get_by_label("Akun pejabat penanda tangan").fill(ADMIN)
    screenshot(page, "berita-acara-isi")
    check_accessibility(page, "berita acara")
    form.locator("button[type=submit]").click()
    page.get_by_role("link", name="Berita acara bertanda tangan").click()
    page.locator(".facts .badge.ok", has_text="Sah").wait_for()
    closed = client.call("GET", base, token=admin).body
    assert closed["status"] == "closed" and closed["berita_acara"], closed
    assert page.url.endswith(f"/bkd/dokumen/{closed['berita_acara']}")
    screenshot(page, "berita-acara-dokumen")


def exported(page, fmt: str, **fields) -> tuple[bytes, str]:
    """The report page's export in format `fmt` (the form's other fields filled by label),
    downloaded through its progress state: (the file's bytes, its name)."""
    export = page.locator("form#export-form")
    export.get_by_label("Format").select_option(fmt)
    for label, value in fields.items():
        export.get_by_label(label).fill(value)
    with page.expect_download(timeout=60_000) as download:
        export.get_by_role("button", name="Ekspor").click()
    name = download.value.suggested_filename
    page.locator(".export-progress [role=status]", has_text=f"Berkas {name}").wait_for()
    return Path(download.value.path()).read_bytes(), name


def test_a_report_with_its_chart_and_csv_xlsx_pdf_exports(page, stack):
    admin = api_token(stack, ADMIN)
    expected = stack.client().call("GET", "/api/reports/headcount", token=admin)
    assert expected.status == 200, expected.body
    titles = [c["title"] for c in expected.body["columns"]]
    staff_login(page, stack, ADMIN)
    page.locator("#nav").get_by_role("link", name="Laporan").click()
    page.get_by_role("link", name="Jumlah pegawai").click()
    chart = page.locator("figure.chart img")
    chart.wait_for()
    page.wait_for_function("document.querySelector('figure.chart img').naturalWidth > 0")
    alt = chart.get_attribute("alt")
    assert alt.startswith("Grafik Jumlah pegawai"), alt
    first = expected.body["items"][0]
    assert f"{first[expected.body['columns'][0]['key']]}: " in alt
    assert chart.get_attribute("src").startswith("blob:")
    table = page.get_by_role("table", name="Jumlah pegawai")
    assert table.locator("tbody tr").count() == len(expected.body["items"])
    screenshot(page, "laporan-grafik")
    check_accessibility(page, "laporan dengan grafik")

    data, name = exported(page, "csv")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(titles), lines[:2]
    assert len(lines) == 1 + len(expected.body["items"])
    assert name.endswith(".csv")
    screenshot(page, "laporan-ekspor")
    check_accessibility(page, "laporan setelah ekspor")

    # the same rows as a workbook: a zip of xl/ parts openpyxl reads back
    data, name = exported(page, "xlsx")
    assert name.endswith(".xlsx") and data[:2] == b"PK"
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        assert {"xl/workbook.xml", "[Content_Types].xml"} <= set(book.namelist())
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    rows = [[c for c in r if c is not None] for r in sheet.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if [str(c) for c in r] == titles)
    assert len([r for r in rows[header + 1:] if r]) == len(expected.body["items"]), rows

    # and as a PDF (a statistic: not an official list, so not signed)
    data, name = exported(page, "pdf")
    assert name.endswith(".pdf") and data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    verdict = stack.client().call("POST", "/api/public/verification", raw=data,
                                  headers={"Content-Type": "application/pdf"})
    assert verdict.status == 200 and verdict.body["valid"] is False, verdict.body


def test_an_official_list_exported_with_its_signed_pdf(page, stack, viewport):
    """DUK is an official list: besides the list's PDF the page offers the signed document the
    signing service made of it for the signer named on the form. The public verification of
    that download says SAH, and the signed document states the list file's SHA-256."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from services.reporting.usecases.exports import grouped

    staff_login(page, stack, ADMIN)
    page.goto("/#/laporan/duk?opd_id=dinkes")
    page.locator("form#export-form").wait_for()
    listed, name = exported(page, "pdf", **{
        "Tujuan penggunaan data": f"bahan rapat Baperjakat Dinkes ({viewport.name})",
        "Penandatangan PDF resmi (opsional)": ADMIN})
    assert listed.startswith(b"%PDF-") and name.endswith(".pdf"), listed[:20]
    digest = hashlib.sha256(listed).hexdigest()
    assert digest in page.locator(".signed-list").inner_text()
    screenshot(page, "daftar-resmi")
    check_accessibility(page, "daftar resmi diekspor")
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Unduh daftar resmi bertanda tangan").click()
    signed = Path(download.value.path()).read_bytes()
    verdict = stack.client().call("POST", "/api/public/verification", raw=signed,
                                  headers={"Content-Type": "application/pdf"})
    assert verdict.status == 200, verdict.body
    assert verdict.body["valid"] is True and verdict.body["status"] == "valid", verdict.body
    assert verdict.body["document"]["status"] == "signed", verdict.body
    pages = PdfFileReader(io.BytesIO(signed)).root["/Pages"]["/Kids"]
    content = b"".join(pages[i]["/Contents"].data for i in range(len(pages)))
    for group in grouped(digest).split():  # what it claims: the list file's SHA-256
        assert group.encode() in content, group
