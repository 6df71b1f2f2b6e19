"""Data requests in the browser (issue 17 part 2), on the deployed stack at phone and desktop
size: DINDIK's fasilitator files a request for a DINKES pegawai's data in the form, follows it,
asks for the file once the pegawai consented and downloads it — only the consenting person, only
the fields asked for; BKD decides one in its page. What the other side does is done through the
API (the pegawai's consent page: tests/e2e/test_web_pegawai.py). Every page is screenshotted
and checked for accessibility."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from shared.testing import wait_for
from tests.e2e.browser import check_accessibility, screenshot
from tests.e2e.harness import NEW_PASSWORD, register_pegawai
from tests.e2e.test_web_auditor import api_token, shown, staff_login

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
REQUESTER, ADMIN = "fas.dindik1", "admin.bkd"


def pegawai(stack, name: str) -> str:
    """A DINKES pegawai registered as BKD and the OPD do (born 1989-03-09: this file's NIPs)."""
    return register_pegawai(stack, f"198903092014032{uuid.uuid4().int % 1000:03d}", "dinkes",
                            admin=api_token(stack, ADMIN),
                            registrar=api_token(stack, "fas.dinkes1"), name=name,
                            tmt_cpns="2014-03-01")


def approve(stack, rid: str) -> None:
    """BKD's approval, once the employee list holds the pegawai."""
    client, admin = stack.client(), api_token(stack, ADMIN)
    wait_for(lambda: client.call("POST", f"/api/data-requests/{rid}/decision", token=admin,
                                 body={"approve": True, "reason": "sesuai SOP"}).status == 200,
             timeout=60, message="approved once the employee list holds the pegawai")


def step(page, name: str) -> None:
    page.locator("main [aria-busy=true]").first.wait_for(state="detached")
    screenshot(page, name)
    check_accessibility(page, name)


def test_a_requester_files_a_request_and_downloads_the_consented_data(page, stack, viewport):
    nip = pegawai(stack, "Rina Kartika")
    staff_login(page, stack, REQUESTER)
    page.locator("#nav").get_by_role("link", name="Permintaan data").click()
    page.get_by_role("link", name="Ajukan permintaan data").click()
    form = page.locator("form#permintaan-form")
    shown(page, form)
    form.get_by_label("Instansi/lembaga peminta").fill("Dinas Pendidikan (kajian lintas OPD)")
    form.get_by_label("Tujuan penggunaan data").fill("pemetaan tenaga kesehatan sekolah")
    form.get_by_label("Nama", exact=True).check()
    form.get_by_label("Golongan", exact=True).check()
    form.get_by_label("Daftar NIP (populasi)").fill(nip)
    form.get_by_label("Awal masa penggunaan").fill("2026-12-01")
    form.get_by_label("Akhir masa penggunaan").fill("2027-03-31")
    step(page, "permintaan-01-formulir")
    form.get_by_role("button", name="Ajukan").click()
    shown(page, page.locator("#langkah"))
    assert "diajukan" in page.locator("main").inner_text()
    rid = page.url.rsplit("/", 1)[-1]
    step(page, "permintaan-02-diajukan")

    approve(stack, rid)
    token = stack.login(nip, NEW_PASSWORD)
    answer = stack.client().call("POST", f"/api/me/consents/{rid}", token=token,
                                 body={"consent": True})
    assert answer.status == 200, answer.body
    page.reload()
    release = page.locator("form#rilis-form")
    shown(page, release)
    assert "1 setuju" in page.locator("main").inner_text()
    release.get_by_label("Format").select_option("csv")
    release.get_by_role("button", name="Minta berkas").click()
    shown(page, page.locator("#langkah dl"))  # the file's state, in place of the form
    download_button = page.get_by_role("button", name="Unduh berkas")

    reload_button = page.get_by_role("button", name="Muat ulang")  # what the page offers

    def ready():
        shown(page, download_button.or_(reload_button).first)
        if download_button.count():
            return True
        state = page.locator("#langkah").inner_text()
        assert "sedang dibuat" in state, state  # not failed, not gone
        try:  # the page may be re-rendering (showing the file ready) under the click
            reload_button.click(timeout=5_000)
        except PlaywrightTimeout:
            pass
        return False
    wait_for(ready, timeout=60, message="the release's file ready")
    step(page, "permintaan-03-siap")
    with page.expect_download(timeout=60_000) as download:
        download_button.click()
    lines = open(download.value.path(), encoding="utf-8-sig").read().splitlines()  # noqa: PTH123, SIM115
    assert lines == ["Nama,Gol/ruang", "Rina Kartika,III/a"], lines


def test_bkd_decides_a_request_in_its_page(page, stack, viewport):
    nip = pegawai(stack, "Sari Wulandari")
    filed = stack.client().call("POST", "/api/data-requests", token=api_token(stack, REQUESTER),
                                body={"organisation": "Universitas Negeri Surabaya",
                                      "purpose": "penelitian distribusi golongan",
                                      "fields": ["golongan"], "population": {"nips": [nip]},
                                      "period_from": "2026-12-01", "period_until": "2027-03-31"})
    assert filed.status == 201, filed.body
    rid = filed.body["request_id"]
    staff_login(page, stack, ADMIN)
    page.locator("#nav").get_by_role("link", name="Permintaan data").click()
    page.get_by_role("link", name="Universitas Negeri Surabaya").first.wait_for()
    step(page, "keputusan-01-daftar")
    page.goto(f"/#/permintaan-data/{rid}")
    decision = page.locator("form#keputusan-form")
    shown(page, decision)
    decision.get_by_label("Keputusan").select_option("false")
    decision.get_by_label("Alasan").fill("tujuan penelitian belum dilengkapi surat izin")
    step(page, "keputusan-02-formulir")
    decision.get_by_role("button", name="Simpan keputusan").click()
    page.get_by_text("tidak ada data yang diserahkan", exact=False).wait_for()
    step(page, "keputusan-03-ditolak")
    state = stack.client().call("GET", f"/api/data-requests/{rid}",
                                token=api_token(stack, ADMIN)).body
    assert (state["state"], state["decision_reason"]) == (
        "refused", "tujuan penelitian belum dilengkapi surat izin")
