"""Lists of requests and the eligibility overview over real RPC (records + requests, PostgreSQL,
RabbitMQ), issue 16: a pegawai lists their own requests, newest first, with what a returned one
awaits; staff list requests within their scope with filters and pages (a fasilitator never sees
another OPD's request nor a disciplinary procedure); every active layanan's eligibility for one
employee in one call, with the documents the record already holds."""

import itertools
from datetime import timedelta

import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from services.requests.service import RequestsService
from shared.calendar import today_wib
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.migrations import migrate
from shared.objectstore import FileSystemStore
from shared.testing import create_test_database, drop_test_database
from tests.helpers import signed
from tests.records_helpers import ADMIN, AUDITOR, FASIL, OTHER_FASIL, principal
from tests.test_requests_workflow import employee as workflow_employee
from tests.test_requests_workflow import upload

_SEQ = itertools.count(1)


def employee(call, **changes):
    """test_requests_workflow's employee, under NIPs of this module's own (born 1981-01-01)."""
    nip = f"198101012005031{next(_SEQ):03d}"
    return workflow_employee(call, nip=nip, **{"date_of_birth": "1981-01-01", **changes})


@pytest.fixture
def stack(container_factory, service_config):
    for service in (RecordsService, RequestsService):
        container_factory(service, service_config).start()

    def call(context, service="requests"):
        return ServiceRpcProxy(service, service_config,
                               context_data=signed(context, service_config))

    return call, FileSystemStore(service_config["DOCUMENT_ROOT"])


def _pegawai(nip):
    person = principal(nip, ["pegawai"], ())
    person["opd_id"] = "dkp"
    return person


def _draft_kgb_and_return(call, store, nip):
    """A KGB request submitted, claimed and returned for its SKP."""
    with call(_pegawai(nip)) as svc:
        draft = svc.create_request({"layanan": "KGB", "nip": nip})
        docs = {code: upload(call, store, f"{code}-{nip}", nip)
                for code in ("surat_pengantar", "sk_pangkat_terakhir", "sk_kgb_terakhir",
                             "skp_1_tahun")}
        changed = svc.change_request_documents(draft["request_id"], {
            "documents": docs, "expected_version": draft["version"]})
        submitted = svc.submit_request(draft["request_id"],
                                       {"expected_version": changed["version"]})
    with call(FASIL) as fasilitator:
        claimed = fasilitator.start_verification(draft["request_id"], {
            "expected_version": submitted["version"]})
        fasilitator.return_request(draft["request_id"], {
            "expected_version": claimed["version"], "note": "perbaiki SKP",
            "documents": {"skp_1_tahun": "SKP belum ditandatangani atasan"}})
    return draft["request_id"]


def test_a_pegawai_lists_their_own_requests_with_what_a_returned_one_awaits(stack):
    call, store = stack
    nip = employee(call)
    returned = _draft_kgb_and_return(call, store, nip)
    with call(_pegawai(nip)) as svc:
        card = svc.create_request({"layanan": "KARTU_KESEHATAN", "nip": nip,
                                   "options": {"tanggungan": "sendiri"}})
        page = svc.my_requests({})
        assert [i["request_id"] for i in page["items"]] == [card["request_id"], returned]
        assert page["has_more"] is False and page["limit"] == 50
        newest, older = page["items"]
        assert newest["state"] == "draft" and newest["submitted_at"] is None
        assert newest["layanan_name"] and newest["awaiting"] is None
        assert older["state"] == "returned" and older["submitted_at"]
        assert older["awaiting"] == [{"document": "skp_1_tahun",
                                      "reason": "SKP belum ditandatangani atasan"}]
        assert older["return_note"] == "perbaiki SKP"
        assert older["updated_at"] >= older["submitted_at"] >= older["created_at"]
        only = svc.my_requests({"state": "returned"})
        assert [i["request_id"] for i in only["items"]] == [returned]
        first = svc.my_requests({"limit": 1})
        assert first["has_more"] and first["items"][0]["request_id"] == card["request_id"]
        second = svc.my_requests({"limit": 1, "offset": 1})
        assert not second["has_more"] and second["items"][0]["request_id"] == returned
        with pytest.raises(ValidationFailed) as bad:
            svc.my_requests({"limit": 500})
        assert bad.value.field == "limit"
    with call(_pegawai(employee(call))) as someone_else:
        assert someone_else.my_requests({})["items"] == []


def test_staff_list_requests_within_their_scope_with_filters_and_pages(stack):
    call, store = stack
    nip = employee(call)
    returned = _draft_kgb_and_return(call, store, nip)
    today = today_wib()
    with call(ADMIN) as admin:
        hukdis = admin.create_request({"layanan": "HUKDIS", "nip": nip,
                                       "options": {"pelanggaran": "lainnya"}})
        page = admin.list_requests({"nip": nip})
        assert {i["request_id"] for i in page["items"]} == {returned, hukdis["request_id"]}
        by_day = admin.list_requests({"nip": nip, "submitted_from": today.isoformat(),
                                      "submitted_to": today.isoformat()})
        assert [i["request_id"] for i in by_day["items"]] == [returned]
        tomorrow = (today + timedelta(days=1)).isoformat()
        assert admin.list_requests({"nip": nip, "submitted_from": tomorrow})["items"] == []
        assert [i["request_id"] for i in admin.list_requests(
            {"nip": nip, "layanan": "KGB", "state": "returned", "opd_id": "dkp"})["items"]] \
            == [returned]
        paged = admin.list_requests({"limit": 1, "offset": 0})
        assert paged["has_more"] and len(paged["items"]) == 1
        with pytest.raises(ValidationFailed) as bad:
            admin.list_requests({"submitted_from": tomorrow, "submitted_to": today.isoformat()})
        assert bad.value.field == "submitted_from"
    with call(AUDITOR) as auditor:
        assert {i["request_id"] for i in auditor.list_requests({"nip": nip})["items"]} == {
            returned, hukdis["request_id"]}
    with call(FASIL) as fasilitator:  # the OPD's fasilitator: not the disciplinary procedure
        assert [i["request_id"] for i in fasilitator.list_requests({"nip": nip})["items"]] \
            == [returned]
    with call(OTHER_FASIL) as other:  # another OPD's: nothing, even when asking for dkp
        assert other.list_requests({"nip": nip})["items"] == []
        assert other.list_requests({"opd_id": "dkp"})["items"] == []
    with call(_pegawai(nip)) as svc, pytest.raises(Forbidden):
        svc.list_requests({})


def test_every_active_layanan_for_one_employee_in_one_call(stack):
    call, store = stack
    nip = employee(call)
    sk = upload(call, store, f"sk-cpns-{nip}", nip)
    with call(ADMIN, "records") as records:
        version = records.get_employee(nip)["version"]
        records.attach_document(nip, {"slot": "sk_pangkat_terakhir", "sha256": sk,
                                      "expected_version": version, "reason": "SK KP"})
    with call(_pegawai(nip)) as svc:
        overview = svc.eligibility_overview(nip)
        single = svc.eligibility("KGB", nip)
    assert overview["nip"] == nip and overview["as_of"] == today_wib().isoformat()
    kodes = [item["kode"] for item in overview["layanan"]]
    assert "KGB" in kodes and "HUKDIS" not in kodes and kodes == sorted(kodes)
    kgb = next(item for item in overview["layanan"] if item["kode"] == "KGB")
    assert kgb["eligible"] == single["eligible"] and kgb["checks"] == single["checks"]
    assert kgb["may_submit"] and kgb["reasons"] == []
    held = {d["code"]: d["on_record"] for d in kgb["documents_required"]}
    assert held["sk_pangkat_terakhir"] is True and held["skp_1_tahun"] is False
    refused = [item for item in overview["layanan"] if not item["eligible"]]
    assert refused and all(item["reasons"] for item in refused)
    with call(ADMIN) as admin:
        assert "HUKDIS" in [i["kode"] for i in admin.eligibility_overview(nip)["layanan"]]
    with call(OTHER_FASIL) as other, pytest.raises(NotFound):  # another OPD's employee
        other.eligibility_overview(nip)


def test_the_migration_fills_the_list_columns_from_the_log(container_factory, service_config):
    """A deployment from before the lists: migration 004 fills each request's last change, first
    submission and confidentiality from its events."""
    from tests.conftest import ADMIN_URL

    url = create_test_database(ADMIN_URL)
    containers = []
    try:
        migrate(url)
        config = {**service_config, "DATABASE_URL": url}
        for service in (RecordsService, RequestsService):
            containers.append(container_factory(service, config))
            containers[-1].start()

        def call(context, service="requests"):
            return ServiceRpcProxy(service, config, context_data=signed(context, config))

        store = FileSystemStore(config["DOCUMENT_ROOT"])
        nip = employee(call)
        returned = _draft_kgb_and_return(call, store, nip)
        with call(ADMIN) as admin:
            hukdis = admin.create_request({"layanan": "HUKDIS", "nip": nip,
                                           "options": {"pelanggaran": "lainnya"}})
            live = {i["request_id"]: i for i in admin.list_requests({"nip": nip})["items"]}
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:  # as it was before migration 004
            cur.execute("DROP INDEX requests.requests_opd_created, requests.requests_created, "
                        "requests.requests_submitted; ALTER TABLE requests.requests DROP COLUMN "
                        "updated_at, DROP COLUMN submitted_at, DROP COLUMN confidential; "
                        "DELETE FROM requests.schema_migrations WHERE name = "
                        "'004_web_request_lists'")
        conn.close()
        assert migrate(url) == ["requests/004_web_request_lists"]
        with call(ADMIN) as admin:
            again = {i["request_id"]: i for i in admin.list_requests({"nip": nip})["items"]}
        assert again == live and set(again) == {returned, hukdis["request_id"]}
        with call(FASIL) as fasilitator:  # confidential again, from the draft's event
            assert [i["request_id"] for i in fasilitator.list_requests({"nip": nip})["items"]] \
                == [returned]
    finally:
        for container in containers:
            container.stop()  # before their database goes
        drop_test_database(url)
