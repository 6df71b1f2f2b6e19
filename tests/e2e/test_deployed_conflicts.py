"""Every operation whose API document declares 409 answers a real 409 problem on the deployed
stack, with a documented `code`: a stale `expected_version` (`concurrency_conflict`), a step in
the wrong state (`transition_refused`), something that already exists (`account_exists`,
`employee_exists`), something already decided or taken (`conflict`), a layanan switched off
(`layanan_inactive`), a second request of a layanan while one is open
(`request_already_open`) or after it was granted (`layanan_already_granted`), a key store
without the seal (`no_signing_key`).

Through HTTP, as a client meets them. Most operations without an `expected_version` in their
body can only conflict when two writes to one stream race (each reads the stream, the second to
append finds it moved on). To make such a race happen every time rather than now and then,
`race` holds the service log's head row in PostgreSQL for a moment — every append of that
service waits for it — sends the calls one after another, waits until each is blocked on a lock,
and lets go: the first in line writes, the one after it finds the stream moved on. Nothing is
read or written in the database by the test itself (but for the reconciliations' stand-in, said
in its test, and a data request's file made to expire, 410). The checkpoint's 409 needs a key store
without the seal, which is the operator's doing: the test takes the seal out of the deployed key
store's index and puts it back.

`CONFLICTS` is the table of operations and the codes provoked here; the last test reads the
document from the running gateway and fails if an operation declares 409 but is not in the table
(or the table names one that no longer does), and prints what this run provoked."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

import eventlet
import psycopg2
import pyotp
import pytest
from psycopg2 import sql

from shared.testing import wait_for
from tests.document_samples import pdf_with_text

pytestmark = pytest.mark.timeout(300)
PDF = {"Content-Type": "application/pdf"}
#: a layanan no other end-to-end test drafts: it is changed and then switched off here
LAYANAN = "UJIAN_DINAS"
NEW_PASSWORD = "Rujak-Cingur-2026"

#: operation -> the 409 codes this file provokes on it (each at least once per run)
CONFLICTS: dict[str, set[str]] = {
    "POST /api/auth/totp/confirm": {"concurrency_conflict"},
    "POST /api/auth/password-reset": {"concurrency_conflict"},
    "PUT /api/me/password": {"concurrency_conflict"},
    "PUT /api/me/contact": {"concurrency_conflict"},
    "POST /api/me/integrity-pacts": {"integrity_pact_in_force"},
    "POST /api/me/integrity-pacts/{pact_id}/withdraw": {"integrity_pact_withdrawn"},
    "POST /api/accounts": {"account_exists"},
    "POST /api/accounts/{account_id}/disable": {"concurrency_conflict"},
    "POST /api/accounts/{account_id}/enable": {"concurrency_conflict"},
    "POST /api/accounts/{account_id}/roles": {"concurrency_conflict", "integrity_pact_missing"},
    "POST /api/accounts/{account_id}/roles/revoke": {"concurrency_conflict"},
    "POST /api/accounts/{account_id}/password-reset": {"concurrency_conflict"},
    "POST /api/accounts/{account_id}/totp-reset": {"concurrency_conflict"},
    "PUT /api/accounts/{account_id}/opd-scope": {"concurrency_conflict"},
    "POST /api/employees": {"employee_exists"},
    "POST /api/employees/{nip}/histories": {"concurrency_conflict"},
    "POST /api/employees/{nip}/proposals": {"concurrency_conflict"},
    "POST /api/employees/{nip}/proposals/decision": {"concurrency_conflict"},
    "POST /api/employees/{nip}/documents": {"concurrency_conflict"},
    "PUT /api/layanan/{kode}": {"concurrency_conflict"},
    "POST /api/layanan/{kode}/deactivate": {"conflict"},
    "POST /api/requests": {"layanan_inactive", "request_already_open",
                           "layanan_already_granted"},
    "PUT /api/requests/{request_id}/documents": {"concurrency_conflict", "transition_refused"},
    "POST /api/requests/{request_id}/submit": {"transition_refused"},
    "POST /api/requests/{request_id}/withdraw": {"concurrency_conflict", "transition_refused"},
    "POST /api/requests/{request_id}/verification": {"concurrency_conflict",
                                                      "transition_refused"},
    "POST /api/requests/{request_id}/return": {"concurrency_conflict", "transition_refused"},
    "POST /api/requests/{request_id}/verify": {"concurrency_conflict", "transition_refused"},
    "POST /api/requests/{request_id}/decision": {"concurrency_conflict", "transition_refused"},
    "POST /api/verification/queue/{item_id}/claim": {"conflict"},
    "POST /api/verification/fake-documents": {"idempotency_key_reused"},
    "POST /api/verification/fake-documents/{case_id}/issue": {"conflict"},
    "POST /api/verification/fake-documents/{case_id}/dismiss": {"conflict"},
    "POST /api/access-requests": {"idempotency_key_reused"},
    "POST /api/access-reviews": {"idempotency_key_reused"},
    "POST /api/access-requests/{request_id}/approve": {"conflict"},
    "POST /api/access-requests/{request_id}/refuse": {"conflict"},
    "POST /api/access-reviews/{review_id}/sign-off": {"conflict"},
    "POST /api/clients": {"account_exists"},
    "POST /api/clients/{client_id}/rotate-secret": {"concurrency_conflict"},
    "POST /api/clients/{client_id}/revoke": {"concurrency_conflict"},
    "POST /api/clients/{client_id}/suspend": {"agreement_already_suspended"},
    "POST /api/clients/{client_id}/reinstate": {"agreement_already_in_force"},
    "POST /api/audit/checkpoints": {"no_signing_key"},
    "POST /api/sync/regions": {"region_already_onboarded"},
    "POST /api/sync/regions/{region}/keys": {"key_limit_reached"},
    "POST /api/sync/regions/{region}/keys/{key_id}/retire": {"last_active_key"},
    "POST /api/sync/{region}/batches": {"batch_replayed"},
    "POST /api/sync/{region}/snapshots": {"snapshot_replayed"},
    "POST /api/sync/regions/{region}/reconciliations": {"snapshot_not_loaded",
                                                        "reconciliation_running"},
    "POST /api/sync/regions/{region}/quarantine/{sequence}/skip": {"not_quarantined"},
    "POST /api/sync/regions/{region}/quarantine/{sequence}/retry": {"not_quarantined"},
    "POST /api/sync/regions/{region}/reconciliations/{reconciliation_id}/decisions": {
        "decision_applied", "reconciliation_not_decidable"},
    "POST /api/sync/regions/{region}/reconciliations/{reconciliation_id}/apply": {
        "reconciliation_not_decidable"},
    "POST /api/sync/regions/{region}/reconciliations/{reconciliation_id}/berita-acara": {
        "berita_acara_not_ready"},
    "POST /api/reports/{name}/export": {"idempotency_key_reused"},
    "GET /api/reports/{name}/export/{export_id}/file": {"export_not_ready"},
    "POST /api/monev/evaluations/{year}": {"evaluation_recorded"},
    "POST /api/data-requests": {"idempotency_key_reused"},
    "POST /api/data-requests/{request_id}/decision": {"data_request_state"},
    "POST /api/data-requests/{request_id}/release": {"consent_missing", "data_request_state"},
    "GET /api/data-requests/{request_id}/file": {"export_not_ready"},
    "POST /api/me/consents/{request_id}": {"data_request_state"},
}
#: what this run provoked: operation -> codes seen
SEEN: dict[str, set[str]] = {}


def conflict(answer, operation: str, code: str) -> None:
    """`answer` is a 409 problem with `code`, one `CONFLICTS` lists for `operation`."""
    assert code in CONFLICTS[operation], f"{operation}: {code} is not in the table"
    assert answer.status == 409, (operation, answer.status, answer.body)
    media = (answer.headers.get("Content-Type") or "").split(";")[0].strip()
    assert media == "application/problem+json", (operation, media)
    assert answer.code == code, (operation, answer.body)
    assert answer.body.get("detail"), (operation, answer.body)
    SEEN.setdefault(operation, set()).add(code)


def ok(answer, status: int = 200):
    assert answer.status == status, (answer.status, answer.body)
    return answer.body


# -- a race, made to happen every time ------------------------------------------------------------

def _lock_waiters(watcher, needle: str) -> int:
    """Backends of this database blocked on a lock while running a statement naming `needle`."""
    with watcher.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND strpos(query, %s) > 0", (needle,))
        return cur.fetchone()[0]


def race(stack, schema: str, needle: str, *calls) -> list:
    """Run `calls` (HTTP calls writing one stream of `schema`'s log) so that each has read the
    stream before any of them writes: the log's head row is held while they are sent, one after
    another, each once the previous is blocked on a lock (statements naming `needle`, e.g. the
    stream's id). Released, they write in the order sent; their answers come back in that order."""
    holder = psycopg2.connect(stack.database_url)
    watcher = psycopg2.connect(stack.database_url)
    watcher.autocommit = True
    running = []
    try:
        with holder.cursor() as cur:
            cur.execute(sql.SQL("SELECT 1 FROM {}.event_log_head WHERE id = 1 FOR UPDATE")
                        .format(sql.Identifier(schema)))
        for sent, call in enumerate(calls, 1):
            running.append(eventlet.spawn(call))

            def blocked(sent=sent):
                early = [t.wait() for t in running if t.dead]
                assert not early, f"answered before reaching the held log: {early}"
                return _lock_waiters(watcher, needle) >= sent

            wait_for(blocked, timeout=10, message=f"call {sent} of a race blocked on {needle}")
    finally:
        holder.rollback()
        holder.close()
        watcher.close()
    return [thread.wait() for thread in running]


def one_wins(answers, operation: str, status: int = 200) -> None:
    """Two identical calls raced: one did it, the other was told the stream moved on."""
    statuses = sorted(a.status for a in answers)
    assert statuses == sorted([status, 409]), [(a.status, a.body) for a in answers]
    conflict(next(a for a in answers if a.status == 409), operation, "concurrency_conflict")


# -- fixtures -------------------------------------------------------------------------------------

def _activation_token(stack, email: str) -> str:
    wait_for(lambda: stack.mails(email), timeout=30, message=f"the activation mail to {email}")
    return stack.mails(email)[-1]["body"].rsplit(" ", 1)[-1]


@pytest.fixture(scope="module")
def people(stack):
    """BKD, two DINKES fasilitators, and a new DINKES pegawai (born 1987, CPNS April 2011: a
    NIP no other test makes) with an activated account and a record due a KGB."""
    client = stack.client()
    admin = stack.login("admin.bkd")
    fasilitator = stack.login("fas.dinkes1")
    nip = f"198705212011042{uuid.uuid4().int % 1000:03d}"
    email = f"{uuid.uuid4().hex[:10]}@mail.test"
    ok(client.call("POST", "/api/accounts", token=admin, body={
        "login": nip, "display_name": "Ratna Sari", "email": email, "roles": ["pegawai"],
        "home_opd": "dinkes", "reason": "CPNS formasi 2011"}), 201)
    ok(client.call("POST", "/api/auth/password-reset", body={
        "token": _activation_token(stack, email), "new_password": NEW_PASSWORD}), 204)
    version = ok(client.call("POST", "/api/employees", token=fasilitator, body={
        "nip": nip, "name": "Ratna Sari", "status": "PNS", "opd_id": "dinkes",
        "date_of_birth": "1987-05-21", "tmt_cpns": "2011-04-01", "gender": "P",
        "golongan": "III/a", "education_id": "40", "reason": "data awal"}), 201)["version"]
    for history, entry in (("gaji_berkala", {"tmt": "2021-04-01", "gaji_pokok": 3_500_000}),
                           ("kinerja", {"tahun": 2025, "predikat": "Baik"})):
        version = ok(client.call("POST", f"/api/employees/{nip}/histories", token=fasilitator,
                                 body={"history": history, "entry": entry,
                                       "expected_version": version, "reason": "data awal"}))[
            "version"]
    return {"admin": admin, "fasilitator": fasilitator, "other": stack.login("fas.dinkes2"),
            "nip": nip, "pegawai": stack.login(nip, NEW_PASSWORD)}


# -- identity: accounts and self-service ----------------------------------------------------------

def test_an_account_conflicts_on_each_change_that_races_another(stack, client, people):
    admin = people["admin"]
    login = f"konflik.{uuid.uuid4().hex[:8]}"
    email = f"{uuid.uuid4().hex[:10]}@dinkes.jatimprov.go.id"
    account = {"login": login, "display_name": "Dewi Lestari", "email": email,
               "roles": ["fasilitator"], "opd_scope": ["dinkes"], "reason": "SK penunjukan"}
    ok(client.call("POST", "/api/accounts", token=admin, body=account), 201)
    conflict(client.call("POST", "/api/accounts", token=admin, body=account),
             "POST /api/accounts", "account_exists")

    def trigger_reset():
        return client.call("POST", f"/api/accounts/{login}/password-reset", token=admin,
                           body={"reason": "permintaan pemilik akun"})

    # The holder's own calls race BKD's, not each other: two with one token take turns on the
    # token's row, two self-service calls on the login throttle's row, and read in turn.
    # Activation: BKD sends a reset link while the holder sets their first password.
    activation = {"token": _activation_token(stack, email), "new_password": NEW_PASSWORD}

    def activate():
        return client.call("POST", "/api/auth/password-reset", body=activation)

    first, second = race(stack, "identity", login, trigger_reset, activate)
    ok(first)
    conflict(second, "POST /api/auth/password-reset", "concurrency_conflict")
    ok(activate(), 204)  # the refused attempt wrote nothing: the token still works

    # first login: the authenticator enrolled while BKD sends a reset link
    enrolment = ok(client.call("POST", "/api/auth/login", body={
        "login": login, "password": NEW_PASSWORD, "device": "e2e"}))
    assert enrolment["status"] == "totp_enrollment_required", enrolment
    confirmation = {"enrollment_token": enrolment["enrollment_token"], "device": "e2e",
                    "otp": pyotp.TOTP(enrolment["totp_secret"]).now()}

    def confirm():
        return client.call("POST", "/api/auth/totp/confirm", body=confirmation)

    first, second = race(stack, "identity", login, trigger_reset, confirm)
    ok(first)
    conflict(second, "POST /api/auth/totp/confirm", "concurrency_conflict")
    own = ok(confirm())["access_token"]

    # the holder changes their password, then their email, while BKD sends a reset link
    first, second = race(stack, "identity", login, trigger_reset, lambda: client.call(
        "PUT", "/api/me/password", token=own,
        body={"current_password": NEW_PASSWORD, "new_password": "Lontong-Balap-2027"}))
    ok(first)
    conflict(second, "PUT /api/me/password", "concurrency_conflict")
    first, second = race(stack, "identity", login, trigger_reset, lambda: client.call(
        "PUT", "/api/me/contact", token=own,
        body={"current_password": NEW_PASSWORD, "email": f"baru.{email}"}))
    ok(first)
    conflict(second, "PUT /api/me/contact", "concurrency_conflict")

    # the integrity pact (issue 17 part 5): no staff role is granted without one; one is signed
    # once while it is in force, and withdrawn once
    conflict(client.call("POST", f"/api/accounts/{login}/roles", token=admin, body={
        "role": "administrator", "reason": "penugasan"}),
        "POST /api/accounts/{account_id}/roles", "integrity_pact_missing")
    totp = pyotp.TOTP(enrolment["totp_secret"])
    pact = {"role": "fasilitator", "password": NEW_PASSWORD,  # both changes above lost the race
            "otp": totp.at(time.time() + totp.interval)}
    signed = ok(client.call("POST", "/api/me/integrity-pacts", token=own, body=pact), 201)
    conflict(client.call("POST", "/api/me/integrity-pacts", token=own, body=pact),
             "POST /api/me/integrity-pacts", "integrity_pact_in_force")
    withdraw = f"/api/me/integrity-pacts/{signed['pact_id']}/withdraw"
    ok(client.call("POST", withdraw, token=own, body={"reason": "mutasi"}))
    conflict(client.call("POST", withdraw, token=own, body={"reason": "mutasi"}),
             "POST /api/me/integrity-pacts/{pact_id}/withdraw", "integrity_pact_withdrawn")

    # two administrators doing the same thing at once: one of them is told to reload
    def twice(method: str, path: str, body: dict):
        return race(stack, "identity", login,
                    *[lambda: client.call(method, path, token=admin, body=body)] * 2)

    base = f"/api/accounts/{login}"
    one_wins(twice("POST", f"{base}/password-reset", {"reason": "permintaan pemilik akun"}),
             "POST /api/accounts/{account_id}/password-reset")
    one_wins(twice("PUT", f"{base}/opd-scope", {"opd_scope": ["dinkes", "dindik"],
                                                "reason": "penugasan tambahan"}),
             "PUT /api/accounts/{account_id}/opd-scope")
    one_wins(twice("POST", f"{base}/roles", {"role": "auditor", "reason": "tim audit"}),
             "POST /api/accounts/{account_id}/roles")
    one_wins(twice("POST", f"{base}/roles/revoke", {"role": "auditor", "reason": "selesai"}),
             "POST /api/accounts/{account_id}/roles/revoke")
    one_wins(twice("POST", f"{base}/totp-reset", {"reason": "ponsel hilang"}),
             "POST /api/accounts/{account_id}/totp-reset")
    one_wins(twice("POST", f"{base}/disable", {"reason": "cuti di luar tanggungan"}),
             "POST /api/accounts/{account_id}/disable")
    one_wins(twice("POST", f"{base}/enable", {"reason": "kembali bertugas"}),
             "POST /api/accounts/{account_id}/enable")


def test_a_machine_client_conflicts_when_it_exists_or_races(stack, client, people):
    admin = people["admin"]
    client_id = f"konflik-{uuid.uuid4().hex[:8]}"
    today = dt.date.today()
    agreement = {"client_kind": "agency", "client_id": client_id, "name": "Dinas Uji",
                 "agreement_kind": "PKS", "agreement_number": "PKS/017/2026",
                 "scopes": ["sync:read"], "valid_from": today.isoformat(),
                 "valid_until": (today + dt.timedelta(days=365)).isoformat(),
                 "reason": "perjanjian kerja sama"}
    ok(client.call("POST", "/api/clients", token=admin, body=agreement), 201)
    conflict(client.call("POST", "/api/clients", token=admin, body=agreement),
             "POST /api/clients", "account_exists")

    def revoke():
        return client.call("POST", f"/api/clients/{client_id}/revoke", token=admin,
                           body={"reason": "perjanjian berakhir"})

    one_wins(race(stack, "identity", client_id, revoke, revoke),
             "POST /api/clients/{client_id}/revoke")
    # a rotation racing the account's re-enabling (two rotations queue on the credential row)
    first, second = race(stack, "identity", client_id, lambda: client.call(
        "POST", f"/api/accounts/{client_id}/enable", token=admin,
        body={"reason": "perjanjian diperpanjang"}), lambda: client.call(
        "POST", f"/api/clients/{client_id}/rotate-secret", token=admin,
        body={"reason": "rahasia bocor"}))
    ok(first)
    conflict(second, "POST /api/clients/{client_id}/rotate-secret", "concurrency_conflict")

    # an agreement suspended twice, or reinstated while in force (issue 17)
    def step(action):
        return client.call("POST", f"/api/clients/{client_id}/{action}", token=admin,
                           body={"reason": "audit keamanan data"})

    ok(step("suspend"))
    conflict(step("suspend"), "POST /api/clients/{client_id}/suspend",
             "agreement_already_suspended")
    ok(step("reinstate"))
    conflict(step("reinstate"), "POST /api/clients/{client_id}/reinstate",
             "agreement_already_in_force")


def test_access_requests_and_reviews_are_decided_once(client, people):
    admin = people["admin"]
    wanted = {
        "role": "fasilitator", "opd_scope": ["dinkes"],
        "subject": {"login": f"calon.{uuid.uuid4().hex[:8]}", "display_name": "Rudi Hartono",
                    "email": f"{uuid.uuid4().hex[:10]}@dinkes.jatimprov.go.id"},
        "justification": "SK Kadinkes tentang penunjukan fasilitator"}
    key = {"Idempotency-Key": f"akses-{uuid.uuid4().hex}"}
    asked = ok(client.call("POST", "/api/access-requests", token=people["other"], body=wanted,
                           headers=key), 201)
    again = ok(client.call("POST", "/api/access-requests", token=people["other"], body=wanted,
                           headers=key), 201)
    assert again == asked, "a retried request is answered as the first, not made twice"
    conflict(client.call("POST", "/api/access-requests", token=people["other"],
                         body={**wanted, "opd_scope": ["rsud-soetomo"]}, headers=key),
             "POST /api/access-requests", "idempotency_key_reused")
    base = f"/api/access-requests/{asked['request_id']}"
    note = {"note": "belum ada SK penunjukan"}
    assert ok(client.call("POST", f"{base}/refuse", token=admin, body=note))["status"] == \
        "refused"
    conflict(client.call("POST", f"{base}/approve", token=admin, body=note),
             "POST /api/access-requests/{request_id}/approve", "conflict")
    conflict(client.call("POST", f"{base}/refuse", token=admin, body=note),
             "POST /api/access-requests/{request_id}/refuse", "conflict")

    key = {"Idempotency-Key": f"tinjau-{uuid.uuid4().hex}"}
    review = ok(client.call("POST", "/api/access-reviews", token=admin, body={}, headers=key),
                201)
    conflict(client.call("POST", "/api/access-reviews", token=admin, body={"stale_days": 30},
                         headers=key), "POST /api/access-reviews", "idempotency_key_reused")
    path = f"/api/access-reviews/{review['review_id']}/sign-off"
    ok(client.call("POST", path, token=admin, body={"note": "ditinjau tim BKD"}))
    conflict(client.call("POST", path, token=admin, body={"note": "ditinjau lagi"}),
             "POST /api/access-reviews/{review_id}/sign-off", "conflict")


# -- records: an employee's record ----------------------------------------------------------------

def test_an_employee_record_refuses_stale_versions_and_duplicates(stack, client, people):
    nip, fasilitator, pegawai = people["nip"], people["fasilitator"], people["pegawai"]
    record = ok(client.call("GET", f"/api/employees/{nip}", token=fasilitator))
    conflict(client.call("POST", "/api/employees", token=fasilitator, body={
        "nip": nip, "name": "Ratna Sari", "status": "PNS", "opd_id": "dinkes",
        "date_of_birth": "1987-05-21", "tmt_cpns": "2011-04-01", "gender": "P",
        "golongan": "III/a", "education_id": "40", "reason": "data awal"}),
        "POST /api/employees", "employee_exists")
    stale = record["version"] - 1
    conflict(client.call("POST", f"/api/employees/{nip}/histories", token=fasilitator, body={
        "history": "kinerja", "entry": {"tahun": 2024, "predikat": "Baik"},
        "expected_version": stale, "reason": "data SKP"}),
        "POST /api/employees/{nip}/histories", "concurrency_conflict")
    upload = ok(client.call("POST", "/api/documents", token=pegawai,
                            raw=pdf_with_text(marker=f"sk-cpns-{nip}"), headers=PDF), 201)
    conflict(client.call("POST", f"/api/employees/{nip}/documents", token=fasilitator, body={
        "slot": "sk_cpns", "sha256": upload["sha256"], "expected_version": stale,
        "reason": "arsip SK"}), "POST /api/employees/{nip}/documents", "concurrency_conflict")

    def propose():
        return client.call("POST", f"/api/employees/{nip}/proposals", token=pegawai,
                           body={"changes": {"address": "Jl. Kertajaya 12, Surabaya"}})

    answers = race(stack, "records", f"employee:{nip}", propose, propose)
    one_wins(answers, "POST /api/employees/{nip}/proposals", status=201)
    proposed = next(a.body for a in answers if a.status == 201)
    conflict(client.call("POST", f"/api/employees/{nip}/proposals/decision", token=fasilitator,
                         body={"change_id": proposed["change_id"], "apply": True,
                               "reason": "sesuai KTP",
                               "expected_version": proposed["version"] - 1}),
             "POST /api/employees/{nip}/proposals/decision", "concurrency_conflict")


# -- requests: one KGB request through every step, each also tried out of turn --------------------

def test_a_request_refuses_stale_versions_and_steps_out_of_turn(stack, client, people):
    nip, pegawai, admin = people["nip"], people["pegawai"], people["admin"]
    verifier, colleague = people["fasilitator"], people["other"]
    eligibility = ok(client.call("GET", f"/api/layanan/KGB/eligibility/{nip}", token=pegawai))
    assert eligibility["eligible"], eligibility
    docs = {}
    for code in (d["code"] for d in eligibility["documents_required"]):
        docs[code] = ok(client.call("POST", "/api/documents", token=pegawai, headers=PDF,
                                    raw=pdf_with_text(marker=f"{code}-{nip}-konflik")),
                        201)["sha256"]
    draft = ok(client.call("POST", "/api/requests", token=pegawai, body={
        "layanan": "KGB", "nip": nip, "documents": docs}), 201)
    rid = draft["request_id"]
    base = f"/api/requests/{rid}"

    def step(path: str, token: str, body: dict):
        return client.call("POST" if path != "/documents" else "PUT", base + path, token=token,
                           body=body)

    verdicts = {c: {"original": True, "legible": True, "matches_record": True} for c in docs}
    returned = {"documents": {"usulan": "dokumen kurang jelas"}}
    decision = {"approve": True, "reason": "memenuhi syarat KGB",
                "outcome": {"tmt": "2026-04-01", "gaji_pokok": 4_150_000}}
    withdrawal = {"reason": "salah layanan"}
    # a draft: the documents changed with a stale version; steps that need it submitted
    conflict(step("/documents", pegawai, {"documents": docs, "expected_version": 0}),
             "PUT /api/requests/{request_id}/documents", "concurrency_conflict")
    v = draft["version"]
    conflict(step("/verification", verifier, {"expected_version": v}),
             "POST /api/requests/{request_id}/verification", "transition_refused")
    conflict(step("/verify", verifier, {"expected_version": v, "checks": verdicts}),
             "POST /api/requests/{request_id}/verify", "transition_refused")
    conflict(step("/return", verifier, {"expected_version": v, **returned}),
             "POST /api/requests/{request_id}/return", "transition_refused")
    conflict(step("/decision", admin, {"expected_version": v, **decision}),
             "POST /api/requests/{request_id}/decision", "transition_refused")

    # submitted: not again, no document changes; a withdrawal or a verification that read the
    # draft is stale
    submitted = ok(step("/submit", pegawai, {"expected_version": v}))
    conflict(step("/submit", pegawai, {"expected_version": submitted["version"]}),
             "POST /api/requests/{request_id}/submit", "transition_refused")
    conflict(step("/documents", pegawai, {"documents": docs,
                                          "expected_version": submitted["version"]}),
             "PUT /api/requests/{request_id}/documents", "transition_refused")
    conflict(step("/withdraw", pegawai, {"expected_version": v, **withdrawal}),
             "POST /api/requests/{request_id}/withdraw", "concurrency_conflict")
    conflict(step("/verification", verifier, {"expected_version": v}),
             "POST /api/requests/{request_id}/verification", "concurrency_conflict")

    # the queue item: one verifier holds it, a colleague is told who
    item = f"request:{rid}"
    wait_for(lambda: any(i["item_id"] == item for i in ok(client.call(
        "GET", "/api/verification/queue", token=verifier))), timeout=60,
        message="the submitted request in the verification queue")
    ok(client.call("POST", f"/api/verification/queue/{item}/claim", token=verifier))
    taken = client.call("POST", f"/api/verification/queue/{item}/claim", token=colleague)
    conflict(taken, "POST /api/verification/queue/{item_id}/claim", "conflict")

    # being verified: a return or a verdict on the submitted version is stale
    verifying = ok(step("/verification", verifier, {"expected_version": submitted["version"]}))
    stale = submitted["version"]
    conflict(step("/return", verifier, {"expected_version": stale, **returned}),
             "POST /api/requests/{request_id}/return", "concurrency_conflict")
    conflict(step("/verify", verifier, {"expected_version": stale, "checks": verdicts}),
             "POST /api/requests/{request_id}/verify", "concurrency_conflict")

    # verified, waiting for BKD: a decision on an older version; steps that are over
    verified = ok(step("/verify", verifier, {"expected_version": verifying["version"],
                                             "checks": verdicts}))
    assert verified["state"] == "under_approval", verified
    now = verified["version"]
    conflict(step("/decision", admin, {"expected_version": now - 1, **decision}),
             "POST /api/requests/{request_id}/decision", "concurrency_conflict")
    conflict(step("/withdraw", pegawai, {"expected_version": now, **withdrawal}),
             "POST /api/requests/{request_id}/withdraw", "transition_refused")
    conflict(step("/verification", verifier, {"expected_version": now}),
             "POST /api/requests/{request_id}/verification", "transition_refused")

    # a document reported as fake: the case is decided once
    report = {"request_id": rid, "document": next(iter(docs)),
              "note": "cap dinas berbeda dengan arsip"}
    key = {"Idempotency-Key": f"lapor-{rid}"}
    case = ok(client.call("POST", "/api/verification/fake-documents", token=verifier,
                          body=report, headers=key), 201)
    # the same key for another report is not the same call (shared/idempotency.py)
    conflict(client.call("POST", "/api/verification/fake-documents", token=verifier,
                         body={**report, "note": "tanda tangan dipindai"}, headers=key),
             "POST /api/verification/fake-documents", "idempotency_key_reused")
    path = f"/api/verification/fake-documents/{case['case_id']}"
    ok(client.call("POST", f"{path}/dismiss", token=admin, body={"reason": "dokumen asli"}))
    conflict(client.call("POST", f"{path}/dismiss", token=admin, body={"reason": "lagi"}),
             "POST /api/verification/fake-documents/{case_id}/dismiss", "conflict")
    conflict(client.call("POST", f"{path}/issue", token=admin, body={"reason": "palsu"}),
             "POST /api/verification/fake-documents/{case_id}/issue", "conflict")


# -- requests: one open request of a layanan, and a card granted once -----------------------------

def test_a_layanan_is_asked_for_once_at_a_time_and_a_card_granted_once(stack, client, people):
    nip, pegawai, admin = people["nip"], people["pegawai"], people["admin"]
    fasilitator = people["fasilitator"]
    karpeg = {"layanan": "KARPEG", "nip": nip, "options": {"alasan": "baru"}}
    eligibility = ok(client.call("GET", f"/api/layanan/KARPEG/eligibility/{nip}", token=pegawai))
    assert eligibility["eligible"], eligibility
    docs = {code: ok(client.call("POST", "/api/documents", token=pegawai, headers=PDF,
                                 raw=pdf_with_text(marker=f"{code}-{nip}-karpeg")),
                     201)["sha256"]
            for code in (d["code"] for d in eligibility["documents_required"])}
    draft = ok(client.call("POST", "/api/requests", token=pegawai,
                           body={**karpeg, "documents": docs}), 201)
    rid = draft["request_id"]
    for token in (pegawai, fasilitator):  # the employee, or their fasilitator on their behalf
        again = client.call("POST", "/api/requests", token=token, body=karpeg)
        conflict(again, "POST /api/requests", "request_already_open")
        assert again.body["errors"]["request_id"] == rid, again.body

    base = f"/api/requests/{rid}"
    submitted = ok(client.call("POST", f"{base}/submit", token=pegawai,
                               body={"expected_version": draft["version"]}))
    claimed = ok(client.call("POST", f"{base}/verification", token=fasilitator,
                             body={"expected_version": submitted["version"]}))
    verdict = {"original": True, "legible": True, "matches_record": True}
    verified = ok(client.call("POST", f"{base}/verify", token=fasilitator, body={
        "expected_version": claimed["version"], "checks": {c: verdict for c in docs}}))
    ok(client.call("POST", f"{base}/decision", token=admin, body={
        "expected_version": verified["version"], "approve": True, "reason": "kartu pertama",
        "outcome": {"nomor_kartu": "L.0012345"}}))
    wait_for(lambda: ok(client.call("GET", base, token=pegawai))["state"] == "completed",
             timeout=90, message="the card is signed and the request completed")
    # a new user asking again, as one once did five times: the card was granted
    granted = client.call("POST", "/api/requests", token=pegawai, body=karpeg)
    conflict(granted, "POST /api/requests", "layanan_already_granted")
    assert granted.body["errors"]["request_id"] == rid, granted.body


# -- the catalogue --------------------------------------------------------------------------------

def test_a_layanan_changed_twice_at_once_or_switched_off(stack, client, people):
    admin = people["admin"]
    current = ok(client.call("GET", f"/api/layanan/{LAYANAN}", token=admin))
    change = {"changes": {"deskripsi": "Ujian dinas tingkat I dan II (SOP diperbarui)"},
              "sop": {"nomor": current["sop"]["nomor"], "versi": current["sop"]["versi"] + 1},
              "approval": {"reference": "BA/SIMASN/07/2026"}, "reason": "SOP baru"}

    def change_it():
        return client.call("PUT", f"/api/layanan/{LAYANAN}", token=admin, body=change)

    one_wins(race(stack, "requests", f"layanan:{LAYANAN}", change_it, change_it),
             "PUT /api/layanan/{kode}")

    decree = {"decree_number": "188/77/KPTS/204/2026", "decree_date": "2026-01-05",
              "reason": "digabung dengan layanan lain"}
    path = f"/api/layanan/{LAYANAN}/deactivate"
    assert not ok(client.call("POST", path, token=admin, body=decree))["active"]
    conflict(client.call("POST", path, token=admin, body=decree),
             "POST /api/layanan/{kode}/deactivate", "conflict")
    conflict(client.call("POST", "/api/requests", token=people["pegawai"], body={
        "layanan": LAYANAN, "nip": people["nip"]}), "POST /api/requests", "layanan_inactive")


# -- signing: a checkpoint without the seal -------------------------------------------------------

def _rewrite(path: Path, index: dict, mtime_ns: int) -> None:
    """Replace the key store index at once (never half-written), with a modification time of
    its own so the service sees each change."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(index, indent=2), encoding="utf-8")
    os.utime(scratch, ns=(mtime_ns, mtime_ns))
    scratch.replace(path)


def test_a_checkpoint_without_the_seal_in_the_key_store(stack, client, people):
    """The operator's key store has no seal (e.g. before BSrE's seal certificate is mounted):
    a checkpoint asked for is refused with a reason, and signed again once the seal is back,
    without a restart."""
    admin = people["admin"]
    path = Path(stack.secrets()["SIMASN_SIGNING_KEYSTORE_DIR"]) / "keystore.json"
    index = json.loads(path.read_text(encoding="utf-8"))
    assert "seal" in index, sorted(index)
    stamp = path.stat().st_mtime_ns
    try:
        _rewrite(path, {k: v for k, v in index.items() if k != "seal"}, stamp + 1_000_000_000)
        conflict(client.call("POST", "/api/audit/checkpoints", token=admin),
                 "POST /api/audit/checkpoints", "no_signing_key")
    finally:
        _rewrite(path, index, stamp + 2_000_000_000)
    ok(client.call("POST", "/api/audit/checkpoints", token=admin), 201)


def test_a_region_is_onboarded_once_its_keys_and_batches_and_quarantine_conflict(
        stack, client, people):
    """The sync service's conflicts as a region's IT team and BKD meet them: a region onboarded
    twice, a fourth key, the last key retired, a batch id sent again, and deciding an event that
    is not (or no longer) in quarantine."""
    from tests.sync_helpers import change, onboard

    admin = people["admin"]
    region = onboard(client, admin, "3571")
    conflict(client.call("POST", "/api/sync/regions", token=admin,
                         body={"region": "3571", "reason": "PKS sinkronisasi kedua"}),
             "POST /api/sync/regions", "region_already_onboarded")
    keys = f"/api/sync/regions/{region.code}/keys"
    for _ in range(2):  # three active keys at most
        ok(client.call("POST", keys, token=admin, body={"reason": "rotasi kunci"}), 201)
    conflict(client.call("POST", keys, token=admin, body={"reason": "rotasi kunci"}),
             "POST /api/sync/regions/{region}/keys", "key_limit_reached")
    others = [k["key_id"] for k in ok(client.call("GET", keys, token=admin))
              if k["status"] == "active" and k["key_id"] != region.key_id]
    for key_id in others:
        ok(client.call("POST", f"{keys}/{key_id}/retire", token=admin,
                       body={"reason": "kunci lama"}))
    conflict(client.call("POST", f"{keys}/{region.key_id}/retire", token=admin,
                         body={"reason": "kunci terakhir"}),
             "POST /api/sync/regions/{region}/keys/{key_id}/retire", "last_active_key")
    # an employee records does not know: the event is quarantined once sync applies it
    unknown = "199001012020121997"
    status, answer = region.send([change(1, unknown)], batch_id="e2e-batch-0001")
    assert status == 200, answer
    status, again = region.send([change(2, unknown)], batch_id="e2e-batch-0001")
    assert status == 409 and again["code"] == "batch_replayed", again
    SEEN.setdefault("POST /api/sync/{region}/batches", set()).add("batch_replayed")
    quarantine = f"/api/sync/regions/{region.code}/quarantine"
    wait_for(lambda: [e for e in ok(client.call("GET", quarantine, token=admin))
                      if e["sequence"] == 1], timeout=60, message="the event in quarantine")
    ok(client.call("POST", f"{quarantine}/1/skip", token=admin,
                   body={"reason": "pegawai tidak ada"}))
    for action in ("skip", "retry"):
        conflict(client.call("POST", f"{quarantine}/1/{action}", token=admin,
                             body={"reason": "diputus lagi"}),
                 f"POST /api/sync/regions/{{region}}/quarantine/{{sequence}}/{action}",
                 "not_quarantined")


def test_a_yearly_evaluation_is_corrected_only_once_recorded(client, people):
    """A correction of a year whose evaluation was never recorded: nothing to correct (the
    second recording of a signed year is the same code, tests/test_reporting_monev.py)."""
    conflict(client.call("POST", "/api/monev/evaluations/2001", token=people["admin"], body={
        "signer": "admin.bkd", "correction": True, "reason": "ralat tanpa evaluasi"}),
        "POST /api/monev/evaluations/{year}", "evaluation_recorded")


def test_a_reconciliations_decisions_conflict_once_applied_or_closed(stack, client, people):
    """BKD deciding on a reconciliation: the berita acara before everything is decided and
    applied, a decision already applied changed, and a closed reconciliation decided on or
    applied again. The reconciliations are written into the tables in the states the report and
    the applier leave them (the only database writes of this file; the real chain is
    tests/test_sync_snapshots.py's)."""
    from tests.sync_helpers import onboard, reported_reconciliation

    admin = people["admin"]
    region = onboard(client, admin, "3574")
    nip = f"198101012006041{uuid.uuid4().int % 1000:03d}"
    name = [{"kind": "field_mismatch", "nip": nip, "field": "name", "region_value": "Ani",
             "province_value": "Ana"}]
    base = f"/api/sync/regions/{region.code}/reconciliations"
    op = "POST /api/sync/regions/{region}/reconciliations/{reconciliation_id}/"
    reported = reported_reconciliation(stack.database_url, region.code, {}, name)
    conflict(client.call("POST", f"{base}/{reported}/berita-acara", token=admin, body={
        "meeting_date": "2026-12-04", "place": "Ruang Rapat BKD", "signer": "admin.bkd",
        "participants": [{"name": "Dr. Budi Santoso", "position": "Kepala BKD",
                          "instansi": "Pemerintah Provinsi Jawa Timur"}]}),
        op + "berita-acara", "berita_acara_not_ready")
    applied = reported_reconciliation(stack.database_url, region.code, {}, name,
                                      status="applied", decision="take_region")
    conn = psycopg2.connect(stack.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE sync.differences SET applied_at = now(), applied_outcome = "
                    "'{\"status\": \"applied\"}' WHERE reconciliation_id = %s", (applied,))
    conn.close()
    conflict(client.call("POST", f"{base}/{applied}/decisions", token=admin, body={
        "decisions": [{"difference_id": 1, "decision": "keep_province"}]}),
        op + "decisions", "decision_applied")
    closed = reported_reconciliation(stack.database_url, region.code, {}, name,
                                     status="closed", decision="keep_province")
    conflict(client.call("POST", f"{base}/{closed}/decisions", token=admin, body={
        "decisions": [{"difference_id": 1, "decision": "ask_correction"}]}),
        op + "decisions", "reconciliation_not_decidable")
    conflict(client.call("POST", f"{base}/{closed}/apply", token=admin), op + "apply",
             "reconciliation_not_decidable")


def test_a_snapshot_id_is_used_once_and_one_reconciliation_runs_at_a_time(
        stack, client, people, tmp_path):
    """A region's snapshot sent again under its id; a reconciliation asked of a snapshot that
    is not loaded (a file that is no snapshot), and a second one while the first runs."""
    from tests.sync_helpers import onboard

    admin = people["admin"]
    region = onboard(client, admin, "3572")
    path = tmp_path / "pegawai.csv"
    path.write_text("nip,nama,tanggal_lahir,jenis_kelamin,status\n"
                    "199001012020121001,Budi,1990-01-01,L,PNS\n", encoding="utf-8")
    status, first = region.snapshot(path)
    assert status == 202, first
    status, again = region.snapshot(path, snapshot_id=first["snapshot_id"])
    assert status == 409 and again["code"] == "snapshot_replayed", again
    SEEN.setdefault("POST /api/sync/{region}/snapshots", set()).add("snapshot_replayed")
    picture = tmp_path / "foto.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    status, failed = region.snapshot(picture)
    assert status == 202, failed
    wait_for(lambda: region.get(f"snapshots/{failed['snapshot_id']}")[1]["status"] ==
             "failed", timeout=60, message="the picture failed")
    reconciliations = f"/api/sync/regions/{region.code}/reconciliations"
    conflict(client.call("POST", reconciliations, token=admin,
                         body={"snapshot_id": failed["snapshot_id"], "year": 2026}),
             "POST /api/sync/regions/{region}/reconciliations", "snapshot_not_loaded")
    wait_for(lambda: region.get(f"snapshots/{first['snapshot_id']}")[1]["status"] == "loaded",
             timeout=60, message="the snapshot loaded")
    for _ in range(5):  # a one-row report may be done before the second request: again
        answer = client.call("POST", reconciliations, token=admin,
                             body={"snapshot_id": first["snapshot_id"], "year": 2026})
        if answer.status == 409:
            conflict(answer, "POST /api/sync/regions/{region}/reconciliations",
                     "reconciliation_running")
            break
        ok(answer, 202)


# -- the table against the document ---------------------------------------------------------------

def test_an_export_file_is_refused_until_it_is_ready(stack, client, people):
    """An export's file asked for while the export worker has not written it yet: 409
    export_not_ready; once ready, the file. The test holds the export's row (as `race` holds a
    log's head) so that the worker cannot take it before the download is tried."""
    admin = people["admin"]
    # asked again with the same Idempotency-Key: the same export; for another one: refused
    key = {"Idempotency-Key": f"ekspor-{uuid.uuid4()}"}
    body = {"format": "csv", "purpose": "uji konflik ekspor", "params": {"limit": 5}}
    first = ok(client.call("POST", "/api/reports/employees/export", token=admin, body=body,
                           headers=key), 202)
    again = ok(client.call("POST", "/api/reports/employees/export", token=admin, body=body,
                           headers=key), 202)
    assert again["export_id"] == first["export_id"]
    conflict(client.call("POST", "/api/reports/employees/export", token=admin,
                         body={**body, "format": "xlsx"}, headers=key),
             "POST /api/reports/{name}/export", "idempotency_key_reused")
    holder = psycopg2.connect(stack.database_url)
    try:
        for _ in range(20):  # until an export is caught before its worker took it
            started = ok(client.call("POST", "/api/reports/employees/export", token=admin, body={
                "format": "csv", "purpose": "uji konflik ekspor", "params": {"limit": 5}}), 202)
            with holder.cursor() as cur:
                cur.execute("SELECT 1 FROM reporting.exports WHERE export_id = %s AND status = "
                            "'running' FOR UPDATE", (started["export_id"],))
                if cur.fetchone():
                    break
            holder.rollback()
        else:
            raise AssertionError("every export was ready before it could be held")
        path = f"/api/reports/employees/export/{started['export_id']}/file"
        conflict(client.call("GET", path, token=admin),
                 "GET /api/reports/{name}/export/{export_id}/file", "export_not_ready")
    finally:
        holder.rollback()
        holder.close()
    wait_for(lambda: client.call("GET", path.removesuffix("/file"), token=admin).body.get(
        "status") == "ready", timeout=60, message="the export's file")
    assert client.call("GET", path, token=admin).status == 200


def test_a_data_request_is_decided_consented_and_released_once(stack, client, people):
    """A DINKES fasilitator's data request about the pegawai: filed once per Idempotency-Key,
    decided once, released only after consent and once, its file refused until written (the
    test holds the export's row, as above), the consent frozen after the release; and the
    file past its end is 410 (the one write of this file: the test moves `expires_at`)."""
    requester, admin = people["fasilitator"], people["admin"]
    key = {"Idempotency-Key": f"permintaan-{uuid.uuid4()}"}
    body = {"organisation": "Lembaga Uji Konflik", "purpose": "uji konflik permintaan data",
            "fields": ["name"], "population": {"nips": [people["nip"]]},
            "period_from": "2026-12-01", "period_until": "2027-06-30"}
    filed = ok(client.call("POST", "/api/data-requests", token=requester, body=body,
                           headers=key), 201)
    conflict(client.call("POST", "/api/data-requests", token=requester,
                         body={**body, "fields": ["golongan"]}, headers=key),
             "POST /api/data-requests", "idempotency_key_reused")
    decision = {"approve": True, "reason": "uji konflik"}

    def approved(rid):
        answer = client.call("POST", f"/api/data-requests/{rid}/decision", token=admin,
                             body=decision)
        # the employee list may not have caught up with the record yet: asked again
        return answer.body if answer.status == 200 else None

    def consented(rid):
        wait_for(lambda: approved(rid), timeout=60, message="approved with its population")
        ok(client.call("POST", f"/api/me/consents/{rid}", token=people["pegawai"],
                       body={"consent": True}))

    rid = filed["request_id"]
    base = f"/api/data-requests/{rid}"
    wait_for(lambda: approved(rid), timeout=60, message="approved with its population")
    conflict(client.call("POST", f"{base}/decision", token=admin, body=decision),
             "POST /api/data-requests/{request_id}/decision", "data_request_state")
    conflict(client.call("POST", f"{base}/release", token=requester, body={"format": "csv"}),
             "POST /api/data-requests/{request_id}/release", "consent_missing")
    ok(client.call("POST", f"/api/me/consents/{rid}", token=people["pegawai"],
                   body={"consent": True}))
    holder = psycopg2.connect(stack.database_url)
    try:
        for attempt in range(10):  # until a release is caught before its worker took it
            if attempt:
                rid = ok(client.call("POST", "/api/data-requests", token=requester, body=body),
                         201)["request_id"]
                base = f"/api/data-requests/{rid}"
                consented(rid)
            export_id = ok(client.call("POST", f"{base}/release", token=requester,
                                       body={"format": "csv"}), 202)["export"]["export_id"]
            with holder.cursor() as cur:
                cur.execute("SELECT 1 FROM reporting.exports WHERE export_id = %s AND status "
                            "= 'running' FOR UPDATE", (export_id,))
                if cur.fetchone():
                    break
            holder.rollback()
        else:
            raise AssertionError("every release was written before it could be held")
        conflict(client.call("GET", f"{base}/file", token=requester),
                 "GET /api/data-requests/{request_id}/file", "export_not_ready")
    finally:
        holder.rollback()
        holder.close()
    conflict(client.call("POST", f"{base}/release", token=requester, body={"format": "csv"}),
             "POST /api/data-requests/{request_id}/release", "data_request_state")
    conflict(client.call("POST", f"/api/me/consents/{rid}", token=people["pegawai"],
                         body={"consent": False}),
             "POST /api/me/consents/{request_id}", "data_request_state")
    wait_for(lambda: client.call("GET", base, token=requester).body["export"]["status"]
             == "ready", timeout=60, message="the release's file")
    assert client.call("GET", f"{base}/file", token=requester).status == 200
    with psycopg2.connect(stack.database_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE reporting.exports SET expires_at = now() - interval '1 second' "
                    "WHERE export_id = %s", (export_id,))
    gone = client.call("GET", f"{base}/file", token=requester)
    assert gone.status == 410 and gone.code == "export_expired", gone.body
    assert gone.headers["Content-Type"].startswith("application/problem+json")


def test_every_operation_that_declares_409_is_provoked(request, capsys, client):
    document = ok(client.call("GET", "/api/openapi.json"))
    declared = {f"{method.upper()} {path}" for path, operations in document["paths"].items()
                for method, operation in operations.items() if "409" in operation["responses"]}
    lines = [f"409 coverage: {len(SEEN)} of {len(declared)} operations that declare 409"]
    for operation in sorted(declared | set(CONFLICTS)):
        codes = ", ".join(sorted(SEEN.get(operation, ()))) or "NOT PROVOKED in this run"
        mark = "" if operation in declared else "  (no longer declares 409)"
        lines.append(f"  {operation:<58} {codes}{mark}")
    report = "\n".join(lines)
    with capsys.disabled():
        print("\n" + report)
    assert declared == set(CONFLICTS), (
        f"declared 409 but not in CONFLICTS: {sorted(declared - set(CONFLICTS))}; in "
        f"CONFLICTS but no longer declared: {sorted(set(CONFLICTS) - declared)}")
    # when every test of this file ran before this one, each table entry was seen
    mine = [item for item in request.session.items if item.module is request.module]
    if len(mine) == len([name for name in dir(request.module) if name.startswith("test_")]):
        missing = {op: codes - SEEN.get(op, set()) for op, codes in CONFLICTS.items()
                   if codes - SEEN.get(op, set())}
        assert not missing, f"not provoked in this run: {missing}\n{report}"
