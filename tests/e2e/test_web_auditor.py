"""The auditor's journeys in the browser (issue 16), on the deployed stack at phone and desktop
size: a request's timeline found through the request list, the employee record's history and
the record as it stood after its first step (as of that moment) and one field's history, and
the logs' chain status with the signed checkpoints and the witness's copy. The data are made
through the API (a pegawai with a KGB request submitted); only the reading is done in the page.
Every page is screenshotted and checked for accessibility; the `page` fixture fails the test on
a console error, a CSP violation or a request to another origin."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.browser import check_accessibility, screenshot
from tests.e2e.harness import NEW_PASSWORD, register_pegawai, submit_kgb

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
AUDITOR = "auditor.inspektorat"
#: login -> the 30-second TOTP step last used for it in this process


def staff_login(page, stack, login: str) -> None:
    """A staff member's session in the page: logged in through the API (password and OTP, a
    session of its own), its refresh token put where the application keeps it, then the page
    loaded: the shell resumes the session as after a reload. (The login form itself is the
    shell's test; through it, the first step's 401 totp_required is logged by Chromium as a
    failed resource, which the page watch counts as a console error.)"""
    client = stack.client()
    body = {"login": login, "password": stack.seeded.password, "device": "Peramban web",
            "otp": stack.otp(login)}  # a step this run has not used (identity takes each once)
    answer = client.call("POST", "/api/auth/login", body=body)
    assert answer.status == 200, answer.body
    page.goto("/#/masuk")
    page.locator("form#login-form").wait_for()
    page.evaluate("(token) => sessionStorage.setItem('simasn.refresh', token)",
                  answer.body["refresh_token"])
    page.reload()
    page.locator("#nav .menu-group").first.wait_for()


def shown(page, locator) -> None:
    """Wait for `locator`; when it never comes, fail with what the page shows instead."""
    try:
        locator.wait_for(timeout=15_000)
    except Exception:  # noqa: BLE001 - the page's text says more than Playwright's timeout
        raise AssertionError(f"not shown: {locator}\n{page.locator('main').inner_text()}"
                             ) from None


def api_token(stack, login: str) -> str:
    """An access token through the API (stack.login: one session per login in a run)."""
    return stack.login(login)


@pytest.fixture(scope="module")
def submitted(stack):
    """A new DINKES pegawai (account activated, record with a KGB due) whose KGB request is
    submitted: (nip, request id)."""
    admin, fasilitator = api_token(stack, "admin.bkd"), api_token(stack, "fas.dinkes1")
    nip = register_pegawai(stack, f"198604152010042{uuid.uuid4().int % 1000:03d}", "dinkes",
                           admin=admin, registrar=fasilitator, name="Wulan Sari",
                           tmt_cpns="2010-04-01")
    pegawai = stack.login(nip, NEW_PASSWORD)
    request_id, _, _ = submit_kgb(stack, nip, pegawai)
    return nip, request_id


def test_an_auditor_follows_a_request_a_record_as_of_a_moment_and_the_chain(page, stack,
                                                                             submitted):
    nip, request_id = submitted
    staff_login(page, stack, AUDITOR)
    menu = page.locator("#nav")
    for entry in ("Jejak usulan", "Data per waktu", "Integritas log"):
        assert menu.get_by_role("link", name=entry).is_visible(), entry

    # the request list, filtered by the NIP, and the request's timeline
    menu.get_by_role("link", name="Jejak usulan").click()
    search = page.locator("form#request-filter")
    search.get_by_label("NIP pegawai").fill(nip)
    search.get_by_role("button", name="Cari").click()
    row = page.locator("table tbody tr", has_text=nip)
    row.wait_for()
    assert "Diajukan" in row.inner_text()
    screenshot(page, "daftar-usulan")
    check_accessibility(page, "daftar usulan")
    row.get_by_role("link").click()
    timeline = page.get_by_role("list", name="Jejak usulan")
    timeline.wait_for()
    steps = timeline.locator("li")
    assert [steps.nth(i).get_attribute("data-event") for i in range(steps.count())] == [
        "RequestDrafted", "RequestSubmitted"]
    assert nip in steps.first.inner_text() and "pegawai" in steps.first.inner_text()
    assert request_id in page.locator("main").inner_text()
    screenshot(page, "jejak-usulan")
    check_accessibility(page, "jejak usulan")

    # the record: its steps (newest first), then the record as it stood after the first one
    page.get_by_role("link", name=nip).click()
    history = page.get_by_role("list", name="Riwayat perubahan data")
    history.wait_for()
    events = [history.locator("li").nth(i).get_attribute("data-event")
              for i in range(history.locator("li").count())]
    assert events[-1] == "EmployeeRegistered" and events.count("HistoryEntryRecorded") == 2
    now = page.get_by_role("table", name=re.compile(r"^Data pokok \(versi \d+\)$"))
    shown(page, now)
    assert now.get_attribute("data-version") == str(len(events)), events
    screenshot(page, "data-terkini")
    check_accessibility(page, "data pegawai terkini")
    history.get_by_role("button", name="Lihat data versi 1,", exact=False).click()
    then = page.get_by_role("table", name="Data pokok (versi 1)")
    then.wait_for()
    assert "Data per" in page.locator("#asof-title").inner_text()
    assert "Wulan Sari" in then.inner_text()
    screenshot(page, "data-per-waktu")
    check_accessibility(page, "data pegawai per waktu")
    then.get_by_role("link", name="Riwayat nilai Golongan").click()
    changes = page.get_by_role("table", name="Nilai Golongan dari waktu ke waktu")
    changes.wait_for()
    assert "III/a" in changes.inner_text() and "data awal" in changes.inner_text()
    check_accessibility(page, "riwayat kolom")

    # the chain: every log by the newest checkpoint, the checkpoints and the witness's copy
    page.locator("#nav").get_by_role("link", name="Integritas log").click()
    verdict = page.locator("[data-verdict]")
    verdict.wait_for()
    assert verdict.get_attribute("data-verdict") == "holds", verdict.inner_text()
    logs = page.get_by_role("table", name="Kepala setiap log dibandingkan dengan checkpoint "
                                           "terbaru")
    records = logs.locator("tr", has_text="records")
    assert "Utuh" in records.inner_text()
    checkpoints = page.get_by_role("table", name="Checkpoint audit (terbaru di atas)")
    assert checkpoints.locator("tbody tr").count() >= 1
    assert "Ada" in checkpoints.locator("tbody tr").last.inner_text()  # the witness holds it
    assert "saksi" in page.locator("main").inner_text()
    screenshot(page, "integritas-log")
    check_accessibility(page, "integritas log")
