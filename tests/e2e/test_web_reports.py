"""BKD's areas in the browser (issue 16), on the deployed stack at phone and desktop size: the
kabupaten/kota feeds (the regions, one region's status, its reconciliation and the differences
it found), and a report with its chart and a CSV export downloaded through the export's progress
state. The region, its snapshot and the reconciliation are made through the API as a region and
BKD make them (tests/e2e/test_deployed_sync.py); only the reading and the export are done in
the page. Every page is screenshotted and checked for accessibility."""

from __future__ import annotations

import uuid

import pytest

from shared.testing import wait_for
from tests.e2e.browser import check_accessibility, screenshot
from tests.e2e.test_web_auditor import api_token, staff_login
from tests.sync_helpers import onboard

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
ADMIN = "admin.bkd"
#: one kabupaten/kota per viewport (no other end-to-end test onboards them)
REGIONS = {"phone": "3576", "desktop": "3577"}


def reconciled(stack, code: str, tmp_path) -> tuple[str, str]:
    """Region `code` onboarded, its one-row snapshot loaded and reconciled for 2026: the row's
    NIP (unknown to the province: a missing_in_records difference) and the reconciliation id."""
    client, admin = stack.client(), api_token(stack, ADMIN)
    region = onboard(client, admin, code)
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
    return nip, rid


def test_an_administrator_reads_the_regions_and_a_reconciliation(page, stack, viewport,
                                                                 tmp_path):
    code = REGIONS[viewport.name]
    nip, _ = reconciled(stack, code, tmp_path)
    staff_login(page, stack, ADMIN)
    page.locator("#nav").get_by_role("link", name="Sinkronisasi daerah").click()
    regions = page.get_by_role("table", name="Daerah terdaftar", exact=False)
    regions.wait_for()
    row = regions.locator("tbody tr", has_text=f"({code})")
    assert "Lancar" in row.inner_text()
    screenshot(page, "daerah")
    check_accessibility(page, "daftar daerah")

    row.get_by_role("link").click()
    page.get_by_role("heading", name="Status umpan").wait_for()
    assert "Tidak ada peristiwa yang dikarantina." in page.locator("main").inner_text()
    snapshots = page.get_by_role("table", name="Snapshot lengkap yang dikirim daerah")
    assert "Dimuat" in snapshots.inner_text()
    assert page.locator("form#reconcile-form").is_visible()  # BKD may start another
    screenshot(page, "status-daerah")
    check_accessibility(page, "status daerah")

    page.get_by_role("link", name="Rekonsiliasi 2026").click()
    differences = page.get_by_role("table", name="Selisih data daerah dan provinsi")
    differences.wait_for()
    found = differences.locator("tbody tr", has_text=nip)
    assert "Ada di daerah, tidak ada di provinsi" in found.inner_text()
    assert found.get_by_label("Keputusan selisih", exact=False).is_visible()
    screenshot(page, "rekonsiliasi")
    check_accessibility(page, "rekonsiliasi")


def test_a_report_with_its_chart_and_a_csv_export(page, stack):
    expected = stack.client().call("GET", "/api/reports/headcount",
                                   token=api_token(stack, ADMIN))
    assert expected.status == 200, expected.body
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

    export = page.locator("form#export-form")
    export.get_by_label("Format").select_option("csv")
    with page.expect_download(timeout=60_000) as download:
        export.get_by_role("button", name="Ekspor").click()
    saved = download.value.path()
    lines = open(saved, encoding="utf-8-sig").read().splitlines()  # noqa: PTH123, SIM115
    assert lines[0] == ",".join(c["title"] for c in expected.body["columns"]), lines[:2]
    assert len(lines) == 1 + len(expected.body["items"])
    assert download.value.suggested_filename.endswith(".csv")
    page.get_by_text("diunduh", exact=False).wait_for()
    screenshot(page, "laporan-ekspor")
    check_accessibility(page, "laporan setelah ekspor")
