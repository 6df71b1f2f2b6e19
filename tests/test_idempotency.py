"""A state-changing call repeated with the same Idempotency-Key answers what the first one did
(issue 12, defect 15): a client whose `submit` lost its answer sends it again and is told it was
submitted, instead of an error. Through the gateway over HTTP, real services behind it."""

import uuid

import pytest

from services.records.service import RecordsService
from services.requests.service import RequestsService
from tests.document_samples import pdf_with_text
from tests.gateway_helpers import http_login
from tests.identity_helpers import PASSWORD, employee_for, unique_nip

PDF = {"Content-Type": "application/pdf"}


def key() -> dict:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture
def gateway(start_gateway):
    client, people, _ = start_gateway(RecordsService, RequestsService)
    return client, people


@pytest.fixture
def kgb(gateway):
    """A pegawai eligible for KGB with the documents uploaded, and who else takes part."""
    client, people = gateway
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    admin = http_login(client, people, people.staff(["administrator"]))
    nip = next(n for n in iter(unique_nip, None) if int(n[:4]) <= 1990)
    people.boot.create({"login": nip, "display_name": "Siti", "roles": ["pegawai"],
                        "email": f"{nip}@mail.test", "home_opd": "dinkes"}, PASSWORD)
    pegawai = http_login(client, people, nip)
    record = client.call("POST", "/api/employees", token=fasilitator,
                         body=employee_for(nip)).body
    for history, entry in (("gaji_berkala", {"tmt": f"{int(nip[8:12]) + 1}-01-01",
                                             "gaji_pokok": 3_500_000}),
                           ("kinerja", {"tahun": 2025, "predikat": "Baik"})):
        record = client.call("POST", f"/api/employees/{nip}/histories", token=fasilitator,
                             body={"history": history, "entry": entry,
                                   "expected_version": record["version"],
                                   "reason": "data awal"}).body
    required = client.call("GET", f"/api/layanan/KGB/eligibility/{nip}",
                           token=pegawai).body["documents_required"]

    def upload(marker):
        answer = client.call("POST", "/api/documents", token=pegawai,
                             raw=pdf_with_text(marker=marker), headers=PDF)
        assert answer.status == 201, answer.body
        return answer.body["sha256"]

    docs = {d["code"]: upload(f"{d['code']}-{nip}") for d in required}
    return {"client": client, "pegawai": pegawai, "fasilitator": fasilitator, "admin": admin,
            "nip": nip, "docs": docs, "upload": upload}


def twice(client, method, path, token, body, headers):
    """The call, then the same call again as a client that lost the first answer would."""
    first = client.call(method, path, token=token, body=body, headers=headers)
    again = client.call(method, path, token=token, body=body, headers=headers)
    return first, again


def test_a_submit_repeated_with_its_key_is_answered_as_the_first_and_happens_once(kgb):
    client, pegawai = kgb["client"], kgb["pegawai"]
    draft = client.call("POST", "/api/requests", token=pegawai,
                        body={"layanan": "KGB", "nip": kgb["nip"], "documents": kgb["docs"]}).body
    rid, submit = draft["request_id"], f"/api/requests/{draft['request_id']}/submit"
    headers = key()

    first, again = twice(client, "POST", submit, pegawai,
                         {"expected_version": draft["version"]}, headers)
    assert first.status == 200 and first.body["state"] == "submitted", first.body
    assert (again.status, again.body) == (200, first.body), "answered as the first time"

    other = client.call("POST", submit, token=pegawai, headers=headers,
                        body={"expected_version": draft["version"], "reason": "lagi"})
    assert (other.status, other.code) == (409, "idempotency_key_reused"), other.body
    assert other.body["field"] == "Idempotency-Key"
    # without a key a repeat is a new request, refused by the workflow as before
    plain = client.call("POST", submit, token=pegawai, body={"expected_version":
                                                             draft["version"]})
    assert (plain.status, plain.code) == (409, "transition_refused")
    timeline = client.call("GET", f"/api/requests/{rid}/timeline", token=pegawai).body
    assert [t["event"] for t in timeline].count("RequestSubmitted") == 1


def test_every_step_of_a_request_repeated_with_its_key_answers_the_same(kgb):
    client, pegawai, fasilitator, admin = (kgb["client"], kgb["pegawai"], kgb["fasilitator"],
                                           kgb["admin"])

    def step(method, path, token, body):
        first, again = twice(client, method, path, token, body, key())
        assert first.status in (200, 201), (path, first.body)
        assert (again.status, again.body) == (first.status, first.body), path
        return first.body

    draft = step("POST", "/api/requests", pegawai,
                 {"layanan": "KGB", "nip": kgb["nip"], "documents": kgb["docs"]})
    rid = draft["request_id"]
    base = f"/api/requests/{rid}"
    submitted = step("POST", f"{base}/submit", pegawai,
                     {"expected_version": draft["version"]})
    claimed = step("POST", f"{base}/verification", fasilitator,
                   {"expected_version": submitted["version"]})
    returned = step("POST", f"{base}/return", fasilitator, {
        "expected_version": claimed["version"],
        "documents": {"skp_1_tahun": "SKP belum ditandatangani pejabat penilai"}})
    fixed = step("PUT", f"{base}/documents", pegawai, {
        "documents": {"skp_1_tahun": kgb["upload"](f"skp-ttd-{kgb['nip']}")},
        "expected_version": returned["version"]})
    resubmitted = step("POST", f"{base}/submit", pegawai, {"expected_version": fixed["version"]})
    claimed = step("POST", f"{base}/verification", fasilitator,
                   {"expected_version": resubmitted["version"]})
    verdict = {"original": True, "legible": True, "matches_record": True}
    verified = step("POST", f"{base}/verify", fasilitator, {
        "expected_version": claimed["version"], "checks": {c: verdict for c in kgb["docs"]}})
    approved = step("POST", f"{base}/decision", admin, {
        "expected_version": verified["version"], "approve": True, "reason": "memenuhi syarat",
        "outcome": {"tmt": "2026-04-01", "gaji_pokok": 4_150_000}})
    assert approved["state"] == "signing"
    events = [t["event"] for t in client.call("GET", f"{base}/timeline", token=pegawai).body]
    assert events == ["RequestDrafted", "RequestSubmitted", "VerificationStarted",
                      "RequestReturned", "RequestDocumentsChanged", "RequestSubmitted",
                      "VerificationStarted", "RequestVerified", "RequestApproved",
                      "SigningStarted"], "each step happened once"

    # (another layanan: the KGB request is still open, and one is open at a time)
    other = step("POST", "/api/requests", pegawai,
                 {"layanan": "KARTU_KESEHATAN", "nip": kgb["nip"],
                  "options": {"tanggungan": "sendiri"}})
    withdrawn = step("POST", f"/api/requests/{other['request_id']}/withdraw", pegawai,
                     {"expected_version": other["version"], "reason": "salah layanan"})
    assert withdrawn["state"] == "withdrawn"


def test_keys_are_per_caller_and_a_key_in_the_body_is_the_same_mechanism(kgb):
    client, pegawai, fasilitator = kgb["client"], kgb["pegawai"], kgb["fasilitator"]
    headers = key()
    body = {"layanan": "KGB", "nip": kgb["nip"], "documents": kgb["docs"]}
    mine = client.call("POST", "/api/requests", token=pegawai, body=body, headers=headers)
    # the fasilitator happens to send the same key: a request of their own, not the pegawai's
    # (of another layanan: one KGB request is open at a time)
    theirs = client.call("POST", "/api/requests", token=fasilitator, headers=headers, body={
        "layanan": "KARTU_KESEHATAN", "nip": kgb["nip"], "options": {"tanggungan": "sendiri"}})
    assert mine.status == theirs.status == 201, theirs.body
    assert theirs.body["request_id"] != mine.body["request_id"]
    assert theirs.body["on_behalf"] is True
    assert client.call("POST", f"/api/requests/{mine.body['request_id']}/withdraw",
                       token=pegawai, body={"expected_version": mine.body["version"],
                                            "reason": "diulang"}).status == 200

    in_body = {**body, "idempotency_key": f"kgb-{uuid.uuid4().hex}"}
    first, again = twice(client, "POST", "/api/requests", pegawai, in_body, None)
    assert (again.status, again.body) == (first.status, first.body) and first.status == 201
    changed = client.call("POST", "/api/requests", token=pegawai,
                          body={**in_body, "reason": "usulan yang lain"})
    assert (changed.status, changed.code) == (409, "idempotency_key_reused")


def test_records_changes_repeated_with_their_key_answer_the_same(gateway):
    client, people = gateway
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    person = employee_for(unique_nip())
    first, again = twice(client, "POST", "/api/employees", fasilitator, person, key())
    assert first.status == 201, first.body
    assert (again.status, again.body) == (201, first.body), "not employee_exists"
    entry = {"history": "kinerja", "entry": {"tahun": 2025, "predikat": "Baik"},
             "expected_version": first.body["version"], "reason": "data awal"}
    path = f"/api/employees/{person['nip']}/histories"
    first, again = twice(client, "POST", path, fasilitator, entry, key())
    assert first.status == 200 and (again.status, again.body) == (200, first.body)
    history = client.call("GET", f"/api/employees/{person['nip']}", token=fasilitator).body
    assert history["version"] == first.body["version"], "recorded once"


def test_a_malformed_key_is_refused_and_reads_ignore_keys(gateway):
    client, people = gateway
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    answer = client.call("POST", "/api/employees", token=fasilitator,
                         body=employee_for(unique_nip()), headers={"Idempotency-Key": "a b"})
    assert (answer.status, answer.code, answer.body["field"]) == (422, "validation_failed",
                                                                  "Idempotency-Key")
    assert client.call("GET", "/api/layanan", token=fasilitator,
                       headers={"Idempotency-Key": "a b"}).status == 200



def test_account_changes_repeated_with_their_key_answer_the_same(gateway):
    client, people = gateway
    admin = http_login(client, people, people.staff(["administrator"]))
    nip = unique_nip()
    account = {"login": nip, "display_name": "Budi", "roles": ["pegawai"],
               "email": f"{nip}@mail.test", "home_opd": "dinkes", "reason": "pegawai baru"}
    first, again = twice(client, "POST", "/api/accounts", admin, account, key())
    assert first.status == 201, first.body
    assert (again.status, again.body) == (201, first.body), "not account_exists"
    plain = client.call("POST", "/api/accounts", token=admin, body=account)
    assert (plain.status, plain.code) == (409, "account_exists")
    first, again = twice(client, "POST", f"/api/accounts/{nip}/disable", admin,
                         {"reason": "pensiun"}, key())
    assert first.status == 200 and (again.status, again.body) == (200, first.body)
