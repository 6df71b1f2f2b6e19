"""The administrator's (BKD's) journeys in a real browser against the deployed stack, at a phone's
and a desktop's size: log in with TOTP, approve a request a fasilitator verified and refuse
another with a reason, see four eyes refuse a decision on a request the administrator verified,
change a layanan with a new SOP version, deactivate one by decree, register an account and grant
it a role, re-issue a signed document (the old one superseded by the new one), revoke the new
one and see the public verification page answer DICABUT. The
data each journey starts from is made through the API; only the step under test is clicked.
Every page opened is screenshot and checked for accessibility."""

from __future__ import annotations

import itertools
import time

import pyotp
import pytest

from shared.testing import wait_for
from tests.e2e.browser import check_accessibility, open_page, screenshot
from tests.e2e.harness import NEW_PASSWORD, activate, register_pegawai, submit_kgb
from tests.e2e.test_web_auditor import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
ADMIN = "admin.bkd"
FASILITATOR = "fas.dinkes1"
_serial = itertools.count(501)  # this module's NIPs (born 1979-09-09); other files use their own
#: what each viewport's journey changes in the catalogue, no other e2e test touching them
CATALOGUE = {"phone": ("UPKP", "UJIAN_KP_PEMBINA"), "desktop": ("SATYALANCANA", "DUPAK_PAK")}


def _nip() -> str:
    return f"19790909201003 2{next(_serial):03d}".replace(" ", "")


def ok(answer, status=200):
    assert answer.status == status, (answer.status, answer.body)
    return answer.body


def api_login(stack, login: str, password: str | None = None) -> str:
    return stack.login(login, password)


def _verified_kgb(stack, client, admin: str, verifier: str) -> tuple[str, str]:
    """A new employee (account activated by mail, a record with a KGB due) whose KGB request is
    submitted and verified by `verifier`: (nip, request id), the request under approval."""
    fasilitator = api_login(stack, FASILITATOR)
    nip = register_pegawai(stack, _nip(), "dinkes", admin=admin, registrar=fasilitator,
                           name="Ratna Dewi")
    rid, docs, submitted = submit_kgb(stack, nip, api_login(stack, nip, NEW_PASSWORD))
    claimed = ok(client.call("POST", f"/api/requests/{rid}/verification", token=verifier,
                             body={"expected_version": submitted["version"]}))
    verdict = {"original": True, "legible": True, "matches_record": True}
    verified = ok(client.call("POST", f"/api/requests/{rid}/verify", token=verifier, body={
        "expected_version": claimed["version"], "checks": {c: verdict for c in docs}}))
    assert verified["state"] == "under_approval", verified
    return nip, rid


def browser_login(page, stack, login: str) -> None:
    """Log in through the page: password, then the TOTP code (`stack.otp` hands out a step
    this run has not used: identity takes each once)."""
    page.goto("/#/masuk")
    page.get_by_label("NIP atau nama pengguna").fill(login)
    page.get_by_label("Kata sandi").fill(stack.seeded.password)
    page.locator("#login-form button[type=submit]").click()
    page.get_by_label("Kode OTP").fill(stack.otp(login))
    page.locator("#otp-form button[type=submit]").click()
    page.locator("#who").get_by_role("button", name="Keluar").wait_for()


def visit(page, stack, path: str, heading: str, name: str, ready: str | None = None):
    page.goto(f"/#{path}")
    page.get_by_role("heading", name=heading, exact=True).first.wait_for()
    if ready:
        page.locator(ready).first.wait_for()
    page.locator("[aria-busy=true]").first.wait_for(state="detached")
    check_accessibility(page)
    # nothing scrolls sideways, on a 360 px phone either
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    screenshot(page, name)


def _sign_pact(stack, client, login: str, role: str) -> None:
    """A newly registered staff member activates the account, enrolls OTP and signs the
    integrity pact for `role` (the OTP step after the enrolment's)."""
    activate(stack, f"{login}@mail.test")
    first = ok(client.call("POST", "/api/auth/login", body={"login": login,
                                                            "password": NEW_PASSWORD}))
    totp = pyotp.TOTP(first["totp_secret"])
    token = ok(client.call("POST", "/api/auth/totp/confirm", body={
        "enrollment_token": first["enrollment_token"], "otp": totp.now()}))["access_token"]
    ok(client.call("POST", "/api/me/integrity-pacts", token=token, body={
        "role": role, "opd_scope": ["dinkes"], "password": NEW_PASSWORD,
        "otp": totp.at(time.time() + totp.interval)}), 201)


def submit(page, form_id: str) -> None:
    page.locator(f"#{form_id} button[type=submit]").click()


@pytest.fixture
def watched(browser, stack, viewport):
    """The `page` fixture's page and its watch: the browser logs every 4xx answer as a console
    error, and the journey provokes three on purpose (the `expected_failures` the test lists);
    exactly those are let through, anything else the page logs fails the test."""
    context, page, watch = open_page(browser, viewport, stack.url)
    try:
        yield page, watch
        expected = getattr(page, "expected_failures", ())
        watch.console_errors = [e for e in watch.console_errors if not any(
            f"status of {status}" in e and path in e for status, path in expected)]
        watch.check()
    finally:
        context.close()


def test_bkd_decides_governs_the_catalogue_manages_accounts_and_revokes(stack, client, viewport,
                                                                         watched):
    page, _ = watched
    size = viewport.name
    changed_kode, deactivated_kode = CATALOGUE[size]
    year = {"phone": 2024, "desktop": 2023}[size]  # the evaluation each records
    admin = api_login(stack, ADMIN)
    fasilitator = api_login(stack, FASILITATOR)
    approve_nip, to_approve = _verified_kgb(stack, client, admin, fasilitator)
    _, to_refuse = _verified_kgb(stack, client, admin, fasilitator)
    _, own = _verified_kgb(stack, client, admin, admin)  # verified by the administrator

    page.expected_failures = [
        (401, "/api/auth/login"),  # the password step of a TOTP login: totp_required
        (403, f"/api/requests/{own}/decision"),  # four eyes
        (404, f"/api/monev/evaluations/{year}"),  # the year's evaluation, not recorded yet
        (409, f"/api/accounts/e2e.adm.{size}/roles"),  # no integrity pact yet
    ]
    browser_login(page, stack, ADMIN)
    visit(page, stack, "/bkd", "Dasbor BKD", "dasbor",
          ready="section:has(h2:text-is('Kelengkapan data per OPD')) :is(table, .empty, .problem)")
    assert page.locator(".tiles .tile").count() == 7

    # approvals: the list, a request a fasilitator verified approved with its outcome
    visit(page, stack, "/bkd/persetujuan", "Persetujuan usulan", "persetujuan")
    page.locator(f"a[href='#/bkd/persetujuan/{to_approve}']").click()
    page.get_by_role("heading", name="Keputusan", exact=True).wait_for()
    assert FASILITATOR in page.locator(".facts").first.inner_text()
    check_accessibility(page)
    decision = page.locator("#decision-form")
    decision.locator("select[name=approve]").select_option("yes")
    decision.get_by_label("Alasan keputusan").fill("memenuhi syarat KGB")
    decision.get_by_label("TMT").fill("2026-04-01")
    decision.get_by_label("Gaji pokok baru").fill("4150000")
    screenshot(page, "persetujuan-isi")
    submit(page, "decision-form")
    page.locator("#decision [data-state]").wait_for()
    screenshot(page, "persetujuan-disetujui")
    assert ok(client.call("GET", f"/api/requests/{to_approve}", token=admin))["state"] in (
        "approved", "signing", "completed")

    # another refused with a reason
    visit(page, stack, f"/bkd/persetujuan/{to_refuse}", "Keputusan usulan", "penolakan")
    page.locator("#decision-form select[name=approve]").select_option("no")
    page.locator("#decision-form").get_by_label("Alasan keputusan").fill(
        "SK kenaikan pangkat terakhir belum dilampirkan")
    submit(page, "decision-form")
    page.locator("#decision [data-state=rejected]").wait_for()
    refused = ok(client.call("GET", f"/api/requests/{to_refuse}", token=admin))
    assert refused["state"] == "rejected"
    assert refused["decision_reason"] == "SK kenaikan pangkat terakhir belum dilampirkan"

    # four eyes: the administrator verified this one; the page says so, the API refuses
    visit(page, stack, f"/bkd/persetujuan/{own}", "Keputusan usulan", "empat-mata")
    assert page.locator("[data-code=four-eyes-hint]").is_visible()
    decision = page.locator("#decision-form")
    decision.locator("select[name=approve]").select_option("yes")
    decision.get_by_label("Alasan keputusan").fill("memenuhi syarat")
    decision.get_by_label("TMT").fill("2026-04-01")
    decision.get_by_label("Gaji pokok baru").fill("4150000")
    submit(page, "decision-form")
    refusal = page.locator("[data-code=four-eyes]")
    refusal.wait_for()
    assert "empat mata" in refusal.inner_text().lower()
    screenshot(page, "empat-mata-ditolak")
    assert ok(client.call("GET", f"/api/requests/{own}", token=admin))["state"] == \
        "under_approval"

    # the catalogue: a changed layanan with a new SOP version
    before = ok(client.call("GET", f"/api/layanan/{changed_kode}", token=admin))
    visit(page, stack, "/bkd/layanan", "Katalog layanan", "katalog")
    page.locator(f"a[href='#/bkd/layanan/{changed_kode}']").click()
    page.locator("#layanan-change-form").wait_for()
    check_accessibility(page)
    change = page.locator("#layanan-change-form")
    change.get_by_label("SLA (hari kerja)").fill(str(before["sla_hari_kerja"] + 2))
    change.get_by_label("Nomor SOP baru").fill(f"SOP/BKD/{changed_kode}/2026")
    change.get_by_label("Nomor berita acara").fill("BA/SIMASN/7/2026")
    change.get_by_label("Alasan perubahan").fill("beban verifikasi bertambah")
    screenshot(page, "layanan-ubah")
    submit(page, "layanan-change-form")
    page.get_by_text(f"versi {before['sop']['versi'] + 1}").first.wait_for()
    after = ok(client.call("GET", f"/api/layanan/{changed_kode}", token=admin))
    assert after["sop"] == {"nomor": f"SOP/BKD/{changed_kode}/2026",
                            "versi": before["sop"]["versi"] + 1}
    assert after["sla_hari_kerja"] == before["sla_hari_kerja"] + 2

    # deactivated by decree
    visit(page, stack, f"/bkd/layanan/{deactivated_kode}", f"Layanan {deactivated_kode}",
          "layanan-nonaktifkan")
    form = page.locator("#layanan-deactivate-form")
    form.get_by_label("Nomor keputusan Kepala BKD").fill("800/77/BKD/2026")
    form.get_by_label("Tanggal keputusan").fill("2026-11-20")
    form.get_by_label("Alasan penonaktifan").fill("digabung ke layanan lain")
    submit(page, "layanan-deactivate-form")
    page.get_by_text("Layanan ini nonaktif").wait_for()
    screenshot(page, "layanan-nonaktif")
    gone = ok(client.call("GET", f"/api/layanan/{deactivated_kode}", token=admin))
    assert gone["active"] is False and gone["decree_number"] == "800/77/BKD/2026"

    # an account registered, then granted a role
    login = f"e2e.adm.{size}"
    visit(page, stack, "/bkd/akun", "Akun dan peran", "akun")
    visit(page, stack, "/bkd/akun-baru", "Daftarkan akun", "akun-baru")
    form = page.locator("#account-form")
    form.get_by_label("NIP atau nama pengguna").fill(login)
    form.get_by_label("Nama lengkap").fill("Dewi Kartika, S.H.")
    form.get_by_label("Surel").fill(f"{login}@mail.test")
    form.locator("select[name=role]").select_option("auditor")
    form.get_by_label("Dasar pendaftaran").fill("SK Inspektur 800/12/2026")
    submit(page, "account-form")
    page.get_by_role("heading", name=f"Akun {login}").wait_for()
    page.locator("#role-grant-form").wait_for()
    check_accessibility(page)
    grant = page.locator("#role-grant-form")
    grant.locator("select[name=role]").select_option("fasilitator")
    grant.get_by_label("OPD yang ditangani").fill("dinkes")
    grant.get_by_label("Alasan").fill("penugasan fasilitator Dinkes")
    submit(page, "role-grant-form")
    # not before the person signed the integrity pact (issue 17 part 5): they activate the
    # account, enroll their OTP and sign it; then the same grant goes through
    grant.locator(".problem[data-code=integrity_pact_missing]").wait_for()
    _sign_pact(stack, client, login, "fasilitator")
    submit(page, "role-grant-form")
    page.locator("#role-revoke-form").wait_for()
    screenshot(page, "akun-peran")
    account = ok(client.call("GET", f"/api/accounts/{login}", token=admin))
    assert sorted(account["roles"]) == ["auditor", "fasilitator"]
    assert account["opd_scope"] == ["dinkes"]

    # access: a fasilitator's request for a colleague approved; a review made and signed off
    candidate = f"calon.{size}"
    asked = ok(client.call("POST", "/api/access-requests", token=fasilitator, body={
        "role": "fasilitator", "opd_scope": ["dinkes"], "justification": "SK Kadinkes 800/5/2026",
        "subject": {"login": candidate, "display_name": "Candra Wijaya, S.E.",
                    "email": f"{candidate}@mail.test"}}), 201)
    visit(page, stack, "/bkd/akses", "Permintaan dan tinjauan akses", "akses")
    decide = page.locator(f"#access-{asked['request_id']}")
    decide.locator("select[name=decision]").select_option("approve")
    decide.get_by_label("Catatan").fill("sesuai SK penunjukan")
    submit(page, f"access-{asked['request_id']}")
    decide.wait_for(state="detached")
    assert asked["request_id"] in [r["request_id"] for r in ok(client.call(
        "GET", "/api/access-requests?status=approved", token=admin))]
    assert ok(client.call("GET", f"/api/accounts/{candidate}", token=admin))["roles"] == \
        ["fasilitator"]
    submit(page, "review-form")
    page.locator("#sign-off-form").wait_for()
    check_accessibility(page)
    screenshot(page, "tinjauan-akses")
    page.locator("#sign-off-form").get_by_label("Catatan pemeriksaan").fill(
        "akun tanpa OTP dihubungi; tidak ada akun yang dinonaktifkan")
    submit(page, "sign-off-form")
    page.locator("#sign-off-form").wait_for(state="detached")
    review = page.url.rsplit("/", 1)[-1]
    assert ok(client.call("GET", f"/api/access-reviews/{review}", token=admin))[
        "signed_off_by"] == ADMIN

    # the year's layanan evaluation recorded and signed
    visit(page, stack, f"/bkd/evaluasi?tahun={year}", "Evaluasi tahunan layanan", "evaluasi",
          ready="#evaluation-form")
    record = page.locator("#evaluation-form")
    record.get_by_label("Akun pejabat penanda tangan").fill(ADMIN)
    record.get_by_label("Catatan").fill("evaluasi layanan tahun berjalan")
    submit(page, "evaluation-form")
    page.get_by_role("heading", name="Ralat evaluasi").wait_for()
    screenshot(page, "evaluasi-dicatat")
    assert ok(client.call("GET", f"/api/monev/evaluations/{year}", token=admin))["signer"] == ADMIN

    # the approved request's letter, signed by its own process, re-issued, the new one revoked
    wait_for(lambda: client.call("GET", f"/api/requests/{to_approve}", token=admin)
             .body["state"] == "completed", timeout=120,
             message="the letter is signed and the request completed")
    letter = ok(client.call("GET", f"/api/requests/{to_approve}/output", token=admin))
    visit(page, stack, f"/bkd/dokumen?nip={approve_nip}", "Dokumen bertanda tangan",
          "dokumen")
    page.locator(f"a[href='#/bkd/dokumen/{letter['document_id']}']").click()
    page.locator("#reissue-form").wait_for()
    check_accessibility(page)
    page.locator("#reissue-form").get_by_label("Alasan penggantian").fill(
        "nama pegawai dibetulkan sesuai akta kelahiran")
    screenshot(page, "dokumen-ganti")
    submit(page, "reissue-form")
    page.wait_for_url(lambda url: letter["document_id"] not in url)
    fresh_id = page.url.rsplit("/", 1)[-1]
    page.locator("#revoke-form").wait_for()  # the replacement, signed at once
    fresh = ok(client.call("GET", f"/api/signed-documents/{fresh_id}", token=admin))
    assert fresh["status"] == "signed" and fresh["number"] != letter["number"], fresh
    assert fresh["nip"] == approve_nip
    old = ok(client.call("GET", f"/api/signed-documents/{letter['document_id']}", token=admin))
    assert old["status"] == "superseded" and old["superseded_by"] == fresh_id, old
    assert client.call("GET", f"/api/public/verification/{letter['document_id']}"
                       ).body["status"] == "superseded"
    check_accessibility(page)
    screenshot(page, "dokumen-pengganti")
    # the old one's page says it was replaced, and by which; nothing more can be done to it
    visit(page, stack, f"/bkd/dokumen/{letter['document_id']}", "Dokumen bertanda tangan",
          "dokumen-diganti", ready=".facts .badge")
    assert "Diganti" in page.locator(".facts").inner_text()
    assert page.locator("#revoke-form, #reissue-form").count() == 0
    page.locator(f".facts a[href='#/bkd/dokumen/{fresh_id}']").click()

    revoke = page.locator("#revoke-form")
    revoke.wait_for()
    revoke.get_by_label("Nomor keputusan pencabutan").fill("800/78/BKD/2026")
    revoke.get_by_label("Alasan pencabutan").fill("gaji pokok salah hitung")
    screenshot(page, "dokumen-cabut")
    submit(page, "revoke-form")
    page.locator(".facts .badge.bad", has_text="Dicabut").wait_for()
    assert page.locator("#revoke-form, #reissue-form").count() == 0
    page.get_by_role("link", name="Halaman verifikasi publik").click()
    page.get_by_role("heading", name="Dokumen DICABUT").wait_for()
    check_accessibility(page)
    screenshot(page, "verifikasi-dicabut")
    assert ok(client.call("GET", f"/api/signed-documents/{fresh_id}",
                          token=admin))["status"] == "revoked"


def test_bkd_decides_a_fake_document_case(stack, client, page, viewport):
    """A fasilitator reported a document of a submitted KGB request not original (through the
    API, as the verification page does); the administrator finds the case in the list, reads
    the drafted written warning and decides: at phone size the warning is issued (it lands on
    the employee's record as a hukuman disiplin entry), at desktop size the case is dismissed."""
    issue = viewport.name == "phone"
    admin, fasilitator = api_login(stack, ADMIN), api_login(stack, FASILITATOR)
    nip = register_pegawai(stack, _nip(), "dinkes", admin=admin, registrar=fasilitator,
                           name="Wulan Sari")
    rid, docs, _ = submit_kgb(stack, nip, api_login(stack, nip, NEW_PASSWORD))
    code = sorted(docs)[0]
    case = ok(client.call("POST", "/api/verification/fake-documents", token=fasilitator, body={
        "request_id": rid, "document": code, "note": "stempel dan tanda tangan hasil tempelan"}),
        201)
    staff_login(page, stack, ADMIN)
    page.locator("#nav").get_by_role("link", name="Dokumen tidak asli").click()
    cases = page.get_by_role("table", name="Kasus dokumen tidak asli")
    row = cases.locator("tbody tr", has_text=nip)
    assert "Menunggu keputusan" in row.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    check_accessibility(page, "daftar kasus")
    screenshot(page, "kasus")
    row.get_by_role("link").click()
    form = page.locator("#case-decision-form")
    form.wait_for()
    assert "tempelan" in page.locator("blockquote.warning-text").inner_text()
    form.locator("select[name=decision]").select_option("issue" if issue else "dismiss")
    form.get_by_label("Alasan keputusan").fill(
        "dikonfirmasi ke penerbit: SK tidak pernah diterbitkan" if issue
        else "dokumen asli diperlihatkan pegawai saat klarifikasi")
    check_accessibility(page, "keputusan kasus")
    screenshot(page, "kasus-keputusan")
    form.locator("button[type=submit]").click()
    status = "Teguran diterbitkan" if issue else "Ditutup tanpa teguran"
    page.locator(".facts .badge", has_text=status).wait_for()
    assert page.locator("#case-decision-form").count() == 0
    decided = [c for c in ok(client.call("GET", "/api/verification/fake-documents",
                                         token=admin)) if c["case_id"] == case["case_id"]]
    assert decided[0]["status"] == ("issued" if issue else "dismissed"), decided
    assert decided[0]["decided_by"] == ADMIN
    record = ok(client.call("GET", f"/api/employees/{nip}", token=admin))
    penalties = record.get("histories", {}).get("hukuman_disiplin") or []
    assert len(penalties) == (1 if issue else 0), penalties
