"""A document found not original (issue 5): the case is recorded, a written warning drafted for
an administrator, who issues it (it stays on the employee's record as hukuman disiplin) or
dismisses it — real records, requests and verification services over RabbitMQ."""

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from services.requests.service import RequestsService
from services.verification.service import VerificationService
from shared.errors import Conflict, Forbidden, NotFound
from shared.objectstore import FileSystemStore
from tests.helpers import signed
from tests.records_helpers import ADMIN, FASIL, OTHER_FASIL, new_person, principal
from tests.test_verification_queue import submitted_request

OTHER_ADMIN = principal("admin2.bkd", ["administrator"])


@pytest.fixture
def stack(container_factory, service_config):
    for service in (RecordsService, RequestsService, VerificationService):
        container_factory(service, service_config).start()
    store = FileSystemStore(service_config["DOCUMENT_ROOT"])

    def call(context, service="verification"):
        return ServiceRpcProxy(service, service_config,
                               context_data=signed(context, service_config))

    return call, store


def employee_with_request(call, store):
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    with call(ADMIN, "records") as records:
        records.register_employee(person, "data awal")
    return nip, submitted_request(call, store, nip)


def test_a_fake_document_becomes_a_case_and_an_issued_warning(stack):
    call, store = stack
    nip, request = employee_with_request(call, store)
    report = {"request_id": request["request_id"], "document": "kk",
              "note": "cap dinas hasil tempelan"}
    with call(principal(nip, ["pegawai"])) as own:
        with pytest.raises(NotFound):  # not a verifier
            own.report_fake_document(report)
    with call(FASIL, "requests") as requests:  # a request the fasilitator made on their behalf
        # (of another layanan asking for the KK: the KARTU_KESEHATAN one is still open)
        on_behalf = requests.create_request({"layanan": "IZIN_CERAI", "nip": nip,
                                             "options": {"kedudukan": "penggugat"},
                                             "documents": {"kk": request["documents"]["kk"]}})
    with call(FASIL) as fasilitator:
        with pytest.raises(Forbidden):  # who uploaded it does not judge it
            fasilitator.report_fake_document({**report, "request_id": on_behalf["request_id"]})
    with call(OTHER_FASIL) as other:
        with pytest.raises(NotFound):
            other.report_fake_document(report)
    with call(FASIL) as fasilitator:
        with pytest.raises(NotFound):
            fasilitator.report_fake_document({**report, "document": "akta_cerai"})
        case = fasilitator.report_fake_document(report)
        assert case["status"] == "drafted" and case["sha256"] == request["documents"]["kk"]
        assert "TEGURAN TERTULIS" in case["warning"] and nip in case["warning"]
        with pytest.raises(Forbidden):
            fasilitator.fake_document_cases()
        with pytest.raises(Forbidden):
            fasilitator.issue_warning(case["case_id"], {"reason": "terbukti"})
    with call(ADMIN) as admin:
        assert case["case_id"] in {c["case_id"] for c in admin.fake_document_cases("drafted")}
        issued = admin.issue_warning(case["case_id"], {"reason": "terbukti tidak asli"})
        assert issued["status"] == "issued" and issued["decided_by"] == ADMIN["actor_id"]
        with pytest.raises(Conflict):
            admin.issue_warning(case["case_id"], {"reason": "dua kali"})
    with call(ADMIN, "records") as records:
        (entry,) = records.get_employee(nip)["histories"]["hukuman_disiplin"]
        assert entry["kode"] == "R2" and entry["entry_id"] == f"case-{case['case_id']}"
    with call(FASIL, "records") as records:  # confidential: not in a fasilitator's view
        assert "hukuman_disiplin" not in records.get_employee(nip)["histories"]


def test_the_reporter_never_decides_and_a_case_can_be_dismissed(stack):
    call, store = stack
    nip, request = employee_with_request(call, store)
    with call(ADMIN) as admin:
        case = admin.report_fake_document({"request_id": request["request_id"],
                                           "document": "ktp", "note": "foto KTP diedit"})
        with pytest.raises(Forbidden):
            admin.dismiss_case(case["case_id"], {"reason": "keliru"})
    with call(OTHER_ADMIN) as other:
        dismissed = other.dismiss_case(case["case_id"], {"reason": "KTP asli, foto buram"})
        assert dismissed["status"] == "dismissed"
    with call(ADMIN, "records") as records:
        assert records.get_employee(nip)["histories"]["hukuman_disiplin"] == []


def test_a_refused_issue_writes_nothing_to_the_record(stack):
    call, store = stack
    nip, request = employee_with_request(call, store)
    with call(ADMIN) as admin:
        case = admin.report_fake_document({"request_id": request["request_id"],
                                           "document": "kk", "note": "KK hasil suntingan"})
        with pytest.raises(Forbidden):  # the reporter does not issue their own case
            admin.issue_warning(case["case_id"], {"reason": "terbukti"})
    with call(OTHER_ADMIN) as other:
        other.dismiss_case(case["case_id"], {"reason": "asli"})
        with pytest.raises(Conflict):  # a dismissed case is not issued afterwards
            other.issue_warning(case["case_id"], {"reason": "berubah pikiran"})
    with call(ADMIN, "records") as records:
        assert records.get_employee(nip)["histories"]["hukuman_disiplin"] == []


def test_a_report_and_a_warning_repeated_with_their_key_answer_the_same(stack):
    """Issue 12, defect 15: with the Idempotency-Key the gateway passes on, a repeated report is
    the same case (not a second one) and a repeated issue answers the issued case (not
    `conflict`), the penalty recorded once."""
    call, store = stack
    nip, request = employee_with_request(call, store)
    report = {"request_id": request["request_id"], "document": "kk", "note": "KK suntingan"}
    with call({**FASIL, "idempotency_key": "lapor-kk-0001"}) as fasilitator:
        case = fasilitator.report_fake_document(report)
        assert fasilitator.report_fake_document(report) == case
    with call({**ADMIN, "idempotency_key": "terbit-kk-0001"}) as admin:
        issued = admin.issue_warning(case["case_id"], {"reason": "terbukti tidak asli"})
        assert admin.issue_warning(case["case_id"], {"reason": "terbukti tidak asli"}) == issued
    with call(ADMIN) as admin:
        assert [c["case_id"] for c in admin.fake_document_cases()
                if c["request_id"] == request["request_id"]] == [case["case_id"]]
    with call(ADMIN, "records") as records:
        assert len(records.get_employee(nip)["histories"]["hukuman_disiplin"]) == 1
