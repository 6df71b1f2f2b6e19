"""A gaji berkala request end to end through the gateway, as new users would do it: the pegawai
checks eligibility, uploads documents and submits; the OPD's fasilitator returns it once; the
pegawai fixes it; the fasilitator verifies; an administrator approves. The timeline shows every
step with its actor, and a fasilitator of another OPD never sees the request."""

import psycopg2
import pytest

from services.records.service import RecordsService
from services.requests.service import RequestsService
from tests.document_samples import pdf_with_text
from tests.gateway_helpers import http_login
from tests.identity_helpers import PASSWORD, employee_for, unique_nip
from tests.test_gateway_documents import download

PDF = {"Content-Type": "application/pdf"}


@pytest.fixture
def stack(start_gateway):
    client, people, _ = start_gateway(RecordsService, RequestsService)
    return client, people


def test_gaji_berkala_from_submission_to_approval_through_the_gateway(stack, database_url):
    client, people = stack
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    other = http_login(client, people, people.staff(["fasilitator"], ["dindik"]))
    admin = http_login(client, people, people.staff(["administrator"]))
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
        "reason": "memenuhi syarat KGB"})
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
