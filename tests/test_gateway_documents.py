"""Documents through the gateway (issue 4): uploads judged by their bytes, linked from the events
that use them, versioned per slot, downloaded streamed and only by those who may read the
record — confidential ones by administrators only — and every download logged."""

import urllib.request

import psycopg2
import pytest

from services.records.service import RecordsService
from tests.document_samples import _pdf_from_pyhanko, pdf_with_text
from tests.gateway_helpers import http_login
from tests.identity_helpers import PASSWORD, employee_for, unique_nip

PDF = {"Content-Type": "application/pdf"}


@pytest.fixture
def stack(start_gateway):
    client, people, config = start_gateway(RecordsService)
    return client, people, config


def download(client, path, token):
    request = urllib.request.Request(client.base + path,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_documents_are_checked_linked_versioned_and_downloaded_by_readers_only(
        stack, database_url):
    client, people, _ = stack
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    other = http_login(client, people, people.staff(["fasilitator"], ["dindik"]))
    admin = http_login(client, people, people.staff(["administrator"]))
    nip = unique_nip()
    people.boot.create({"login": nip, "display_name": "Siti", "roles": ["pegawai"],
                        "email": f"{nip}@mail.test", "home_opd": "dinkes"}, PASSWORD)
    pegawai = http_login(client, people, nip)
    created = client.call("POST", "/api/employees", token=fasilitator, body=employee_for(nip))
    assert created.status == 201

    # judged by bytes: a renamed executable and a locked PDF are refused, saying why
    exe = client.call("POST", f"/api/documents?file_name=sk.pdf&nip={nip}", token=fasilitator,
                      raw=b"MZ\x90\x00" + b"\x00" * 4000, headers=PDF)
    assert exe.status == 422 and exe.body["code"] == "document_rejected"
    assert exe.body["errors"]["reason"] == "executable"
    locked = client.call("POST", f"/api/documents?nip={nip}", token=fasilitator,
                         raw=_pdf_from_pyhanko(encrypt="rahasia"), headers=PDF)
    assert locked.status == 422 and locked.body["errors"]["reason"] == "pdf_encrypted"

    first_pdf, second_pdf = pdf_with_text(marker="v1"), pdf_with_text(marker="v2")
    first = client.call("POST", f"/api/documents?file_name=sk-cpns.pdf&nip={nip}",
                        token=fasilitator, raw=first_pdf, headers=PDF)
    assert first.status == 201 and first.body["kind"] == "pdf" and first.body["pages"] == 1
    second = client.call("POST", f"/api/documents?nip={nip}", token=fasilitator, raw=second_pdf,
                         headers=PDF)
    version = created.body["version"]
    for sha in (first.body["sha256"], second.body["sha256"]):
        attached = client.call("POST", f"/api/employees/{nip}/documents", token=fasilitator,
                               body={"slot": "sk_cpns", "sha256": sha,
                                     "expected_version": version, "reason": "SK CPNS"})
        assert attached.status == 200, attached.body
        version = attached.body["version"]
    slot = attached.body["documents"]["sk_cpns"]
    assert [(v["version"], v["sha256"]) for v in slot] == [
        (1, first.body["sha256"]), (2, second.body["sha256"])]

    # an event may link only documents uploaded for this employee that passed the checks
    unknown = client.call("POST", f"/api/employees/{nip}/histories", token=fasilitator, body={
        "history": "pangkat", "entry": {"golongan": "III/a", "tmt": employee_for(nip)["tmt_cpns"]},
        "documents": ["ab" * 32], "expected_version": version, "reason": "SK pangkat"})
    assert unknown.status == 422 and unknown.code == "document_not_owned"
    assert unknown.body["field"] == "documents[0]"

    # a confidential document: the SK hukuman disiplin, written and read by administrators
    penalty = client.call("POST", f"/api/documents?nip={nip}", token=admin,
                          raw=pdf_with_text(marker="hukdis"), headers=PDF).body["sha256"]
    recorded = client.call("POST", f"/api/employees/{nip}/histories", token=admin, body={
        "history": "hukuman_disiplin", "entry": {"kode": "R1", "mulai": "2025-01-02"},
        "documents": [penalty], "expected_version": version, "reason": "SK hukdis"})
    assert recorded.status == 200, recorded.body

    url = f"/api/employees/{nip}/documents/{first.body['sha256']}"
    for reader in (pegawai, fasilitator, admin):
        status, headers, body = download(client, url, reader)
        assert status == 200 and body == first_pdf
        assert headers["Content-Type"] == "application/pdf"
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert download(client, url, other)[0] == 404
    secret = f"/api/employees/{nip}/documents/{penalty}"
    assert download(client, secret, fasilitator)[0] == 404
    assert download(client, secret, pegawai)[0] == 404
    assert download(client, secret, admin)[0] == 200
    # a real document, but not one this record links
    foreign = client.call("POST", f"/api/documents?nip={nip}", token=admin,
                          raw=pdf_with_text(marker="lain"), headers=PDF).body["sha256"]
    assert download(client, f"/api/employees/{nip}/documents/{foreign}", admin)[0] == 404

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT metadata->>'actor_role', payload->>'sha256' FROM records.events "
                        "WHERE stream_id = %s ORDER BY position", (f"downloads:{nip}",))
            logged = cur.fetchall()
    finally:
        conn.close()
    assert [role for role, _ in logged] == ["pegawai", "fasilitator", "administrator",
                                            "administrator"]
    assert logged[-1][1] == penalty
