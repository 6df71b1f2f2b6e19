"""Siapa yang menerima data saya (issue 17) in the browser: a pegawai whose record an agency read
through the agency API under its agreement and an auditor read sees both releases - who, how,
which fields, why, on what basis - and a pegawai whose data nobody received sees that; at both
sizes, accessible, nothing from elsewhere."""

import itertools

import pytest

from tests.e2e.browser import check_accessibility, screenshot
from tests.e2e.harness import NEW_PASSWORD, register_pegawai
from tests.e2e.test_web_pegawai import menu
from tests.e2e.test_web_shell import log_in

pytestmark = pytest.mark.browser
_serial = itertools.count(901)  # this module's NIPs (born 1990-03-17); other files use their own
PURPOSE = "verifikasi-kepesertaan"


def new_pegawai(stack) -> str:
    return register_pegawai(stack, f"19900317201503{2}{next(_serial):03d}", "dinkes",
                            admin=stack.login("admin.bkd"), registrar=stack.login("fas.dinkes1"),
                            name="Ratna Sari", tmt_cpns="2015-03-01")


def test_a_pegawai_sees_who_received_their_data(page, stack, client):
    nip, untouched = new_pegawai(stack), new_pegawai(stack)
    admin = stack.login("admin.bkd")
    registered = client.call("POST", "/api/clients", token=admin, body={
        "client_kind": "agency", "client_id": f"bpjs-web-{nip[-3:]}",
        "name": "BPJS Kesehatan Jatim", "agreement_kind": "PKS",
        "agreement_number": "PKS/017/BKD/2026", "scopes": ["agency:read"],
        "allowed_fields": ["name", "golongan"], "population_instansi": ["35"],
        "purposes": [PURPOSE], "valid_from": "2026-01-01", "valid_until": "2030-12-31",
        "reason": "PKS pemutakhiran data peserta"})
    assert registered.status == 201, registered.body
    token = client.call("POST", "/api/auth/token", body={
        "client_id": registered.body["client_id"],
        "client_secret": registered.body["client_secret"]}).body["access_token"]
    read = client.call("GET", f"/api/agency/employees/{nip}?purpose={PURPOSE}", token=token)
    assert read.status == 200 and read.body["name"] == "Ratna Sari", read.body
    assert client.call("GET", f"/api/employees/{nip}",
                       token=stack.login("auditor.inspektorat")).status == 200

    log_in(page, nip, NEW_PASSWORD)
    menu(page, "Penerima data saya")
    page.get_by_role("heading", name="Siapa yang menerima data saya").wait_for()
    rows = page.locator("table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 2
    auditor, agency = rows.nth(0).inner_text(), rows.nth(1).inner_text()  # newest first
    assert "Pemeriksaan auditor" in auditor and "auditor.inspektorat" in auditor
    assert "Riwayat" in auditor and "histories" not in auditor  # every part named in Indonesian
    for expected in ("BPJS Kesehatan Jatim", "API instansi", "Golongan", "Nama", "NIP", PURPOSE,
                     "PKS PKS/017/BKD/2026"):
        assert expected in agency, (expected, agency)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "penerima-data")
    check_accessibility(page, "penerima data saya")

    page.locator("#who").get_by_role("button", name="Keluar").click()
    log_in(page, untouched, NEW_PASSWORD)
    page.goto("/#/pegawai/penerima-data")
    page.get_by_text("Data Anda belum pernah diberikan kepada siapa pun.").wait_for()
