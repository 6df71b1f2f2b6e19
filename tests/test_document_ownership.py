"""A document belongs to the employee it was uploaded for (issue 12, defect 7): requests,
proposals and record links may name only that employee's documents, and every download checks
the owner, not only whether the caller may see the request or the record. The same bytes
uploaded by two employees are two owned documents, each usable by its own owner."""

import hashlib

import psycopg2
import pytest

from services.records.events import REGISTRY as RECORDS_EVENTS
from services.records.service import RecordsService
from services.records.usecases import employees
from services.requests.events import REGISTRY as REQUESTS_EVENTS
from services.requests.service import RequestsService
from services.requests.usecases import workflow
from shared.auth import Principal
from shared.config import validate_config
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore
from shared.objectstore import FileSystemStore
from tests.document_samples import pdf_with_text
from tests.gateway_helpers import http_login
from tests.identity_helpers import employee_for, rpc
from tests.records_helpers import ADMIN
from tests.test_gateway_documents import download

pytestmark = pytest.mark.timeout(180)

PDF = {"Content-Type": "application/pdf"}
KK = {"layanan": "KARTU_KESEHATAN", "options": {"tanggungan": "sendiri"}}


@pytest.fixture
def stack(start_gateway):
    client, people, config = start_gateway(RecordsService, RequestsService)
    return client, people, config


def pegawai_of(client, people, config, opd):
    """A registered employee of `opd` with a pegawai account, logged in."""
    nip = people.pegawai(opd)
    with rpc(config, ADMIN, "records") as records:
        records.register_employee(employee_for(nip, opd), "data awal")
    return nip, http_login(client, people, nip)


def upload(client, token, data, name="dokumen.pdf", nip=None):
    query = f"?file_name={name}" + (f"&nip={nip}" if nip else "")
    return client.call("POST", f"/api/documents{query}", token=token, raw=data, headers=PDF)


def service_db(config, service, registry, actor_id, role):
    """The service's own database access, as its entrypoints use it: for writing what an older
    release could write (a link made before ownership was checked)."""
    engine = make_engine(validate_config(config).service_database_url(service), schema=service,
                         pool_size=1)
    return engine, ServiceDatabase(engine, EventStore(service, registry),
                                   {"actor_id": actor_id, "actor_role": role})


def dinkes_document_and_dindik_employee(client, people, config):
    """The probe of issue 12: a DINKES pegawai's document, a DINDIK pegawai who knows its hash,
    their OPD's fasilitator, and a draft the DINDIK pegawai made with their own document."""
    dinkes_nip, dinkes = pegawai_of(client, people, config, "dinkes")
    dindik_nip, dindik = pegawai_of(client, people, config, "dindik")
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dindik"]))
    theirs = upload(client, dinkes, pdf_with_text(marker=f"kk-{dinkes_nip}"), "kk.pdf")
    assert theirs.status == 201, theirs.body
    mine = upload(client, dindik, pdf_with_text(marker=f"kk-{dindik_nip}"), "kk.pdf")
    assert mine.status == 201, mine.body
    draft = client.call("POST", "/api/requests", token=dindik, body={
        **KK, "nip": dindik_nip, "documents": {"kk": mine.body["sha256"]}})
    assert draft.status == 201, draft.body
    return theirs.body, (dindik_nip, dindik), fasilitator, draft.body


def test_a_document_of_another_employee_is_refused_at_draft(stack):
    client, people, config = stack
    stolen, (nip, dindik), fasilitator, draft = dinkes_document_and_dindik_employee(
        client, people, config)

    # drafting a request that names the other employee's document
    refused = client.call("POST", "/api/requests", token=dindik,
                          body={**KK, "nip": nip, "documents": {"kk": stolen["sha256"]}})
    assert refused.status == 422, refused.body
    assert refused.code == "document_not_owned" and refused.body["field"] == "documents.kk"
    # ... or putting it on a draft
    changed = client.call("PUT", f"/api/requests/{draft['request_id']}/documents",
                          token=dindik, body={"documents": {"ktp": stolen["sha256"]},
                                              "expected_version": draft["version"]})
    assert changed.status == 422 and changed.code == "document_not_owned"
    assert changed.body["field"] == "documents.ktp"
    # ... or proposing a change of the own record with it, or linking it to a record
    proposed = client.call("POST", f"/api/employees/{nip}/proposals", token=dindik,
                           body={"changes": {"address": "Jl. Pemuda 1"},
                                 "documents": [stolen["sha256"]]})
    assert proposed.status == 422 and proposed.code == "document_not_owned"
    assert proposed.body["field"] == "documents[0]"
    record = client.call("GET", f"/api/employees/{nip}", token=fasilitator).body
    attached = client.call("POST", f"/api/employees/{nip}/documents", token=fasilitator,
                           body={"slot": "ktp", "sha256": stolen["sha256"],
                                 "expected_version": record["version"], "reason": "KTP"})
    assert attached.status == 422 and attached.code == "document_not_owned"
    assert attached.body["field"] == "sha256"


def test_a_document_of_another_employee_is_refused_at_download(stack):
    """A link an older release let through (before ownership was checked) is no way in either:
    the download checks the owner, not only who may see the request or the record."""
    client, people, config = stack
    stolen, (nip, dindik), fasilitator, draft = dinkes_document_and_dindik_employee(
        client, people, config)
    sha, rid = stolen["sha256"], draft["request_id"]
    engine, requests_db = service_db(config, "requests", REQUESTS_EVENTS, nip, "pegawai")
    try:
        with requests_db.transaction() as uow:
            workflow.change_documents(
                uow, Principal(nip, frozenset({"pegawai"}), frozenset()), rid,
                {"documents": {"ktp": sha}, "expected_version": draft["version"]})
    finally:
        engine.dispose()
    engine, records_db = service_db(config, "records", RECORDS_EVENTS, "admin.bkd",
                                    "administrator")
    try:
        with records_db.transaction() as uow:
            employee = employees._load(uow, nip)
            employees._save(uow, employee, employee.version, [("DocumentAttached", {
                "slot": "ktp", "sha256": sha, "content_type": "application/pdf",
                "size": stolen["size"], "pages": 1})], "versi lama")
    finally:
        engine.dispose()

    for path in (f"/api/requests/{rid}/documents/ktp", f"/api/employees/{nip}/documents/{sha}"):
        for token in (dindik, fasilitator):
            status, _, body = download(client, path, token)
            assert status == 404, (path, status)
            assert b"%PDF" not in body
    # the employee's own document on the same request still comes
    status, _, body = download(client, f"/api/requests/{rid}/documents/kk", dindik)
    assert status == 200 and body.startswith(b"%PDF")


def test_a_fasilitator_uploads_only_for_employees_of_their_opd(stack):
    client, people, config = stack
    dinkes_nip, _ = pegawai_of(client, people, config, "dinkes")
    dindik_nip, dindik = pegawai_of(client, people, config, "dindik")
    fasilitator = http_login(client, people, people.staff(["fasilitator"], ["dindik"]))

    elsewhere, unnamed_bytes, for_other_bytes = (
        pdf_with_text(marker=f"sk-{dinkes_nip}"), pdf_with_text(marker="tanpa-nip"),
        pdf_with_text(marker="orang-lain"))
    refused = upload(client, fasilitator, elsewhere, "sk.pdf", nip=dinkes_nip)
    assert refused.status == 404 and refused.body["field"] == "nip", refused.body
    unnamed = upload(client, fasilitator, unnamed_bytes, "sk.pdf")
    assert unnamed.status == 422 and unnamed.body["field"] == "nip", unnamed.body
    # a pegawai uploads for themselves only
    for_other = upload(client, dindik, for_other_bytes, nip=dinkes_nip)
    assert for_other.status == 404 and for_other.body["field"] == "nip"
    # what was refused is not kept (issue 12, defect 9)
    store = FileSystemStore(config["DOCUMENT_ROOT"])
    assert not any(store.exists(hashlib.sha256(data).hexdigest())
                   for data in (elsewhere, unnamed_bytes, for_other_bytes))

    own = upload(client, fasilitator, pdf_with_text(marker=f"sk-{dindik_nip}"), "sk.pdf",
                 nip=dindik_nip)
    assert own.status == 201, own.body
    record = client.call("GET", f"/api/employees/{dindik_nip}", token=fasilitator).body
    attached = client.call("POST", f"/api/employees/{dindik_nip}/documents", token=fasilitator,
                           body={"slot": "sk_cpns", "sha256": own.body["sha256"],
                                 "expected_version": record["version"], "reason": "SK CPNS"})
    assert attached.status == 200, attached.body
    status, _, body = download(client, f"/api/employees/{dindik_nip}/documents/"
                                       f"{own.body['sha256']}", dindik)
    assert status == 200 and body.startswith(b"%PDF")


def test_the_same_bytes_uploaded_by_two_employees_are_each_usable_by_their_owner(
        stack, database_url):
    client, people, config = stack
    first_nip, first = pegawai_of(client, people, config, "dinkes")
    second_nip, second = pegawai_of(client, people, config, "dindik")
    same = pdf_with_text(marker="formulir-kartu-kesehatan")  # the one form everybody fills

    mine = upload(client, first, same, "kk-siti.pdf")
    theirs = upload(client, second, same, "kk-budi.pdf")
    assert mine.status == theirs.status == 201, (mine.body, theirs.body)
    assert mine.body["sha256"] == theirs.body["sha256"]
    assert theirs.body["file_name"] == "kk-budi.pdf", "each owner sees their own file name"
    again = upload(client, second, same, "kk-budi.pdf")
    assert again.status == 201 and again.body == theirs.body

    sha = mine.body["sha256"]
    for nip, token in ((first_nip, first), (second_nip, second)):
        draft = client.call("POST", "/api/requests", token=token,
                            body={**KK, "nip": nip, "documents": {"kk": sha}})
        assert draft.status == 201, draft.body
        status, _, body = download(client, f"/api/requests/{draft.body['request_id']}/"
                                           "documents/kk", token)
        assert status == 200 and body == same

    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT payload->>'nip', metadata->>'actor_id' FROM records.events "
                        "WHERE stream_id = %s AND event_type = 'DocumentUploaded' "
                        "ORDER BY position", (f"document:{sha}",))
            assert cur.fetchall() == [(first_nip, first_nip), (second_nip, second_nip)]
    finally:
        conn.close()


def test_legacy_documents_get_owners_only_from_who_uploaded_and_linked_them():
    """Migration 004 on data an older release left: a document belongs to the employee who
    uploaded it, and to each employee a staff uploader linked it to (a record or a request).
    A link made by someone else is not proof: the hash may have been all they knew."""
    from shared.migrations import create_log_schema, migrate, service_migrations
    from shared.testing import create_test_database, drop_test_database
    from tests.conftest import ADMIN_URL

    url = create_test_database(ADMIN_URL)
    try:
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            before = [step for step in service_migrations("records") if step[0] < "004"]
            create_log_schema(cur, "records", "simasn_records", "simasn_auditor", before)
            create_log_schema(cur, "requests", "simasn_requests", "simasn_auditor",
                              service_migrations("requests"))
            _legacy_data(cur)
        conn.close()
        migrate(url)
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT sha256, nip, uploaded_by, source FROM records.document_owners "
                        "ORDER BY sha256, nip")
            owners = cur.fetchall()
        conn.close()
    finally:
        drop_test_database(url)
    a, b = LEGACY["a"], LEGACY["b"]
    assert owners == sorted([
        (_sha("d1"), a, a, "migration"),             # uploaded by the pegawai themself
        (_sha("d2"), a, "fas.dinkes", "migration"),  # attached by its uploader
        (_sha("d4"), a, a, "migration"),             # B named it on B's request: not B's
        (_sha("d5"), b, "fas.dindik", "migration"),  # drafted into B's request by uploader
        (_sha("d6"), b, "fas.dindik", "migration"),  # put on B's request by its uploader
        (_sha("d7"), a, "fas.dinkes", "migration"),  # a history entry by its uploader
    ])  # d3: attached to B's record by another fasilitator than its uploader: nobody's


LEGACY = {"a": "198001012005011001", "b": "198502022010012002",
          "request": "6f1c1b7e-8d0e-4d53-9a57-1f0b6c1f2a01"}


def _sha(label: str) -> str:
    import hashlib

    return hashlib.sha256(label.encode()).hexdigest()


def _legacy_data(cur) -> None:
    import json
    import uuid

    a, b, rid = LEGACY["a"], LEGACY["b"], LEGACY["request"]
    for nip, opd in ((a, "dinkes"), (b, "dindik")):
        cur.execute("INSERT INTO records.employees (nip, opd_id, name, status, version, record) "
                    "VALUES (%s, %s, 'Pegawai', 'PNS', 1, '{}')", (nip, opd))
    for label, uploader in (("d1", a), ("d2", "fas.dinkes"), ("d3", "fas.dinkes"), ("d4", a),
                            ("d5", "fas.dindik"), ("d6", "fas.dindik"), ("d7", "fas.dinkes")):
        cur.execute("INSERT INTO records.documents (sha256, kind, content_type, size, pages, "
                    "uploaded_by) VALUES (%s, 'pdf', 'application/pdf', 100, 1, %s)",
                    (_sha(label), uploader))

    def append(schema, stream, stream_type, actor, event_type, payload):
        event = {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
                 "payload": payload, "content_hash": "legacy"}
        cur.execute(f"SELECT {schema}.append_events(%s, %s, NULL, %s, %s)",  # noqa: S608
                    (stream, stream_type, json.dumps({"actor_id": actor}),
                     json.dumps([event])))

    attached = {"content_type": "application/pdf", "size": 100, "pages": 1}
    append("records", f"employee:{a}", "Employee", "fas.dinkes", "DocumentAttached",
           {"slot": "sk_cpns", "sha256": _sha("d2"), **attached})
    append("records", f"employee:{b}", "Employee", "fas.dindik", "DocumentAttached",
           {"slot": "sk_cpns", "sha256": _sha("d3"), **attached})
    append("records", f"employee:{a}", "Employee", "fas.dinkes", "HistoryEntryRecorded",
           {"history": "pangkat", "entry_id": "e1", "entry": {}, "documents": [_sha("d7")]})
    cur.execute("INSERT INTO requests.requests (request_id, layanan, catalogue_version, nip, "
                "opd_id, state, version, drafted_by) VALUES (%s, 'KARTU_KESEHATAN', 1, %s, "
                "'dindik', 'draft', 2, 'fas.dindik')", (rid, b))
    append("requests", f"request:{rid}", "Request", "fas.dindik", "RequestDrafted",
           {"request_id": rid, "nip": b, "documents": {"kk": _sha("d5")}})
    append("requests", f"request:{rid}", "Request", "fas.dindik", "RequestDocumentsChanged",
           {"documents": {"ktp": _sha("d6")}, "removed": []})
    append("requests", f"request:{rid}", "Request", b, "RequestDocumentsChanged",
           {"documents": {"akta": _sha("d4")}, "removed": []})
