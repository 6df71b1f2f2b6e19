"""A gaji berkala request end to end through the gateway, as new users would do it: the pegawai
checks eligibility, uploads documents and submits; the OPD's fasilitator returns it once; the
pegawai fixes it; the fasilitator verifies; an administrator approves. The timeline shows every
step with its actor, and a fasilitator of another OPD never sees the request. The approving
administrator's signature ends it: the signed surat pemberitahuan KGB is downloaded, the public
verification (no login) reports it valid, and after its revocation, revoked."""

import psycopg2
import pytest

from services.records.service import RecordsService
from services.requests.service import RequestsService
from services.signing import pki
from services.signing.service import SigningService
from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.gateway_helpers import http_login
from tests.helpers import RelayThread
from tests.identity_helpers import PASSWORD, employee_for, unique_nip
from tests.test_gateway_documents import download

PDF = {"Content-Type": "application/pdf"}


@pytest.fixture
def stack(start_gateway, database_url):
    client, people, config = start_gateway(RecordsService, RequestsService, SigningService)
    relays = [RelayThread(database_url, log, log, config["AMQP_URI"], name="kgb-e2e")
              for log in ("requests", "signing")]
    for relay in relays:
        relay.__enter__()
    yield client, people
    for relay in relays:
        relay.__exit__(None, None, None)


def test_gaji_berkala_from_submission_to_signed_letter_through_the_gateway(
        stack, database_url, keystore_dir):
    client, people = stack
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    other = http_login(client, people, people.staff(["fasilitator"], ["dindik"]))
    admin_login = people.staff(["administrator"])
    pki.add_signer(keystore_dir, admin_login, "Dr. Hadi Prasetyo, S.H., M.H.",
                   "Kepala Badan Kepegawaian Daerah")  # BKD installs the official's certificate
    admin = http_login(client, people, admin_login)
    nip = next(n for n in iter(unique_nip, None) if int(n[:4]) <= 1990)  # KGB long due
    people.boot.create({"login": nip, "display_name": "Siti", "roles": ["pegawai"],
                        "email": f"{nip}@mail.test", "home_opd": "dinkes"}, PASSWORD)
    pegawai = http_login(client, people, nip)

    # the record as the OPD keeps it: last KGB more than two years ago
    person = employee_for(nip)
    record = client.call("POST", "/api/employees", token=fasilitator, body=person).body
    for history, entry in (("gaji_berkala", {"tmt": f"{int(nip[8:12]) + 1}-01-01",
                                             "gaji_pokok": 3_500_000}),
                           ("kinerja", {"tahun": 2025, "predikat": "Baik"})):
        record = client.call("POST", f"/api/employees/{nip}/histories", token=fasilitator,
                             body={"history": history, "entry": entry,
                                   "expected_version": record["version"],
                                   "reason": "data awal"}).body

    def seen_by_other(request_id):
        return client.call("GET", f"/api/requests/{request_id}", token=other).status

    eligibility = client.call("GET", f"/api/layanan/KGB/eligibility/{nip}", token=pegawai)
    assert eligibility.status == 200 and eligibility.body["eligible"], eligibility.body
    mandatory = [d["code"] for d in eligibility.body["documents_required"]]
    assert "sk_kgb_terakhir" in mandatory  # conditional: this record has a KGB history

    def upload(marker):
        answer = client.call("POST", "/api/documents", token=pegawai,
                             raw=pdf_with_text(marker=marker), headers=PDF)
        assert answer.status == 201, answer.body
        return answer.body["sha256"]

    docs = {code: upload(f"{code}-{nip}") for code in mandatory}
    draft = client.call("POST", "/api/requests", token=pegawai, body={
        "layanan": "KGB", "nip": nip, "documents": docs, "idempotency_key": f"kgb-{nip}"})
    assert draft.status == 201, draft.body
    rid = draft.body["request_id"]
    assert seen_by_other(rid) == 404
    submitted = client.call("POST", f"/api/requests/{rid}/submit", token=pegawai,
                            body={"expected_version": draft.body["version"]})
    assert submitted.status == 200 and submitted.body["state"] == "submitted", submitted.body
    assert seen_by_other(rid) == 404
    assert client.call("POST", f"/api/requests/{rid}/verification", token=other,
                       body={"expected_version": submitted.body["version"]}).status == 404

    claimed = client.call("POST", f"/api/requests/{rid}/verification", token=fasilitator,
                          body={"expected_version": submitted.body["version"]}).body
    # the verifier reads the documents; another OPD's fasilitator cannot
    document = f"/api/requests/{rid}/documents/skp_1_tahun"
    status, headers, body = download(client, document, fasilitator)
    assert status == 200 and body.startswith(b"%PDF") and headers["Content-Type"] == \
        "application/pdf"
    assert download(client, document, other)[0] == 404
    assert download(client, f"/api/requests/{rid}/documents/akta_cerai", fasilitator)[0] == 404
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT metadata->>'actor_role', payload->>'document' FROM "
                        "requests.events WHERE stream_id = %s", (f"request-downloads:{rid}",))
            assert cur.fetchall() == [("fasilitator", "skp_1_tahun")], "the download is logged"
    finally:
        conn.close()
    returned = client.call("POST", f"/api/requests/{rid}/return", token=fasilitator, body={
        "expected_version": claimed["version"],
        "documents": {"skp_1_tahun": "SKP belum ditandatangani pejabat penilai"}})
    assert returned.status == 200 and returned.body["state"] == "returned"
    assert seen_by_other(rid) == 404

    fixed = client.call("PUT", f"/api/requests/{rid}/documents", token=pegawai, body={
        "documents": {"skp_1_tahun": upload(f"skp-ttd-{nip}")},
        "expected_version": returned.body["version"]}).body
    resubmitted = client.call("POST", f"/api/requests/{rid}/submit", token=pegawai,
                              body={"expected_version": fixed["version"]}).body
    claimed = client.call("POST", f"/api/requests/{rid}/verification", token=fasilitator,
                          body={"expected_version": resubmitted["version"]}).body
    verdict = {"original": True, "legible": True, "matches_record": True}
    verified = client.call("POST", f"/api/requests/{rid}/verify", token=fasilitator, body={
        "expected_version": claimed["version"], "checks": {c: verdict for c in docs}})
    assert verified.status == 200 and verified.body["state"] == "under_approval"
    assert seen_by_other(rid) == 404
    approved = client.call("POST", f"/api/requests/{rid}/decision", token=admin, body={
        "expected_version": verified.body["version"], "approve": True,
        "reason": "memenuhi syarat KGB", "outcome": {"tmt": "2026-04-01", "gaji_pokok": 4_150_000}})
    assert approved.status == 200 and approved.body["state"] == "signing"
    assert seen_by_other(rid) == 404

    timeline = client.call("GET", f"/api/requests/{rid}/timeline", token=pegawai).body
    assert [(t["event"], t["actor_role"]) for t in timeline] == [
        ("RequestDrafted", "pegawai"), ("RequestSubmitted", "pegawai"),
        ("VerificationStarted", "fasilitator"), ("RequestReturned", "fasilitator"),
        ("RequestDocumentsChanged", "pegawai"), ("RequestSubmitted", "pegawai"),
        ("VerificationStarted", "fasilitator"), ("RequestVerified", "fasilitator"),
        ("RequestApproved", "administrator"), ("SigningStarted", "administrator")]
    assert client.call("GET", f"/api/requests/{rid}/timeline", token=other).status == 404

    # the signing service signs the letter as the administrator who approved; the request completes
    wait_for(lambda: client.call("GET", f"/api/requests/{rid}", token=pegawai).body["state"]
             == "completed", timeout=60, message="the letter is signed and the request completed")
    output = client.call("GET", f"/api/requests/{rid}/output", token=pegawai)
    assert output.status == 200 and output.body["status"] == "signed", output.body
    assert output.body["signer"] == admin_login and output.body["number"].startswith(
        "800.1.11.4/")
    # a fasilitator reads the outputs of their own OPD's requests only (issue 20): another
    # OPD's is not found, like the request itself
    assert client.call("GET", f"/api/requests/{rid}/output", token=other).status == 404
    status, headers, letter = download(
        client, f"/api/signed-documents/{output.body['document_id']}/pdf", pegawai)
    assert status == 200 and letter.startswith(b"%PDF") and headers["Content-Type"] == \
        "application/pdf"
    assert download(client, f"/api/signed-documents/{output.body['document_id']}/pdf",
                    other)[0] == 404

    checked = client.call("POST", "/api/public/verification", raw=letter, headers=PDF)
    assert checked.status == 200 and checked.body["valid"], checked.body
    assert checked.body["document"]["number"] == output.body["number"]
    assert checked.body["document"]["signer_name"] == "Dr. Hadi Prasetyo, S.H., M.H."
    assert checked.body["signature"]["signed_at"]
    tampered = bytearray(letter)
    tampered[len(tampered) // 3] ^= 0x01
    refused = client.call("POST", "/api/public/verification", raw=bytes(tampered), headers=PDF)
    assert refused.status == 200 and not refused.body["valid"]
    qr = client.call("GET", f"/api/public/verification/{output.body['document_id']}")
    assert qr.status == 200 and qr.body["valid"]

    revoked = client.call("POST", f"/api/signed-documents/{output.body['document_id']}/revocation",
                          token=admin, body={"reason": "SK KGB dibatalkan: masa kerja keliru",
                                             "decree": "800.1.11.4/99/204/2026"})
    assert revoked.status == 200 and revoked.body["status"] == "revoked", revoked.body
    after = client.call("POST", "/api/public/verification", raw=letter, headers=PDF)
    assert after.status == 200 and not after.body["valid"]
    assert after.body["status"] == "revoked" and after.body["code"] == "revoked"
    assert after.body["document"]["revoked_reason"] == "SK KGB dibatalkan: masa kerja keliru"
    assert client.call("GET", f"/api/public/verification/{output.body['document_id']}"
                       ).body["status"] == "revoked"
