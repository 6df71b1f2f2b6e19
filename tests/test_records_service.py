"""The records service over real RPC: who may register, read, record and propose, enforced in
the service itself; confidential parts; optimistic concurrency; the record as of a moment."""

import time
from datetime import UTC, datetime

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from shared.errors import ConcurrencyError, Forbidden, NotFound
from tests.helpers import raises_code, signed
from tests.records_helpers import ADMIN, AUDITOR, FASIL, OTHER_FASIL, new_person, principal

JABATAN = {"jenis_jabatan": "fungsional", "nama_jabatan": "Analis", "tmt": "2016-01-01"}
TEGURAN = {"kode": "R2", "mulai": "2024-02-01"}


@pytest.fixture
def records(container_factory, service_config):
    container_factory(RecordsService, service_config).start()

    def call(context):
        return ServiceRpcProxy("records", service_config,
                               context_data=signed(context, service_config))

    return call


def test_who_may_register_and_read_is_decided_in_the_service(records):
    nip, person = new_person()
    with records(principal(nip, ["pegawai"])) as svc:
        with pytest.raises(Forbidden):
            svc.register_employee(person, "mendaftar sendiri")
    with records(OTHER_FASIL) as svc:
        with pytest.raises(Forbidden):
            svc.register_employee(person, "bukan OPD-nya")
    with records(FASIL) as svc:
        with pytest.raises(Forbidden) as health:  # confidential: administrators write it
            svc.register_employee(person, "CPNS formasi 2015")
        assert health.value.field == "catatan_kesehatan"
        person.pop("catatan_kesehatan")
        created = svc.register_employee(person, "CPNS formasi 2015")
        assert created["nip"] == nip and "catatan_kesehatan" not in created
        with raises_code("employee_exists"):
            svc.register_employee(person, "dua kali")
        other = new_person()[1]
        other.pop("catatan_kesehatan")
        with raises_code("record_rejected") as refused:
            svc.register_employee({**other, "gender": "L"}, "salah")
        assert refused.value.field == "gender"
        assert {p["code"] for p in refused.value.details["problems"]} == {
            "nip_mismatch_gender", "nik_mismatch_gender"}
    with records(OTHER_FASIL) as svc:
        with pytest.raises(NotFound):
            svc.get_employee(nip)
    with records(principal(nip, ["pegawai"])) as svc:
        assert svc.get_employee(nip)["name"] == "Siti Rahayu"
    health_nip, with_health = new_person()
    with records(ADMIN) as svc:
        svc.register_employee(with_health, "CPNS formasi 2015")
        assert svc.get_employee(health_nip)["catatan_kesehatan"] == "alergi penisilin"
    for reader in (AUDITOR, FASIL, principal(health_nip, ["pegawai"])):
        with records(reader) as svc:
            assert "catatan_kesehatan" not in svc.get_employee(health_nip)


def test_a_proposed_health_note_is_applied_by_an_administrator_only(records):
    nip, person = new_person()
    with records(ADMIN) as svc:
        svc.register_employee(person, "impor awal")
    with records(principal(nip, ["pegawai"])) as svc:
        proposed = svc.propose_change(nip, {"changes": {"catatan_kesehatan": "asma",
                                                        "address": "Jl. Sehat 1"}})
    with records(FASIL) as svc:  # the verifier sees what is proposed, but not the health note
        (pending,) = svc.get_employee(nip)["proposals"]
        assert pending == {"change_id": proposed["change_id"],
                           "changes": {"address": "Jl. Sehat 1"}, "documents": []}
    with records(ADMIN) as svc:
        assert svc.get_employee(nip)["proposals"][0]["changes"]["catatan_kesehatan"] == "asma"
    decision = {"change_id": proposed["change_id"], "apply": True, "reason": "surat dokter",
                "expected_version": proposed["version"]}
    with records(FASIL) as svc:
        with pytest.raises(Forbidden) as refused:
            svc.decide_change(nip, decision)
        assert refused.value.field == "catatan_kesehatan"
    with records(ADMIN) as svc:
        assert svc.decide_change(nip, decision)["catatan_kesehatan"] == "asma"


def test_a_pegawai_proposes_only_for_themselves_and_someone_else_decides(records):
    nip, person = new_person()
    with records(ADMIN) as svc:
        svc.register_employee(person, "impor awal")
    with records(principal(nip, ["pegawai"])) as svc:
        proposed = svc.propose_change(nip, {"changes": {"address": "Jl. Pahlawan 1"}})
        with raises_code("record_rejected"):
            svc.propose_change(nip, {"changes": {"nip": "199001012015032999"}})
    other_nip, _ = new_person()
    with records(principal(other_nip, ["pegawai"])) as svc:
        with pytest.raises(Forbidden):
            svc.propose_change(nip, {"changes": {"address": "Jl. Lain"}})
    with records(FASIL) as svc:
        decided = svc.decide_change(nip, {"change_id": proposed["change_id"], "apply": True,
                                          "reason": "sesuai KTP",
                                          "expected_version": proposed["version"]})
    assert decided["address"] == "Jl. Pahlawan 1" and decided["pending_changes"] == []


def test_confidential_history_and_concurrent_edits(records):
    nip, person = new_person()
    with records(ADMIN) as svc:
        record = svc.register_employee(person, "impor awal")
    with records(FASIL) as svc:
        with pytest.raises(Forbidden):
            svc.record_history(nip, {"history": "hukuman_disiplin", "entry": TEGURAN,
                                     "expected_version": record["version"],
                                     "reason": "bukan wewenang"})
        first = svc.record_history(nip, {"history": "pangkat",
                                         "entry": {"golongan": "III/a", "tmt": "2015-03-01"},
                                         "expected_version": record["version"],
                                         "reason": "SK CPNS"})
        with pytest.raises(ConcurrencyError) as stale:  # the same version read twice
            svc.record_history(nip, {"history": "jabatan",
                                     "entry": JABATAN,
                                     "expected_version": record["version"],
                                     "reason": "SK jabatan"})
        assert stale.value.current_version == first["version"]
    with records(ADMIN) as svc:
        svc.record_history(nip, {"history": "hukuman_disiplin",
                                 "entry": TEGURAN,
                                 "expected_version": first["version"], "reason": "SK teguran"})
        assert svc.get_employee(nip)["histories"]["hukuman_disiplin"][0]["kode"] == "R2"
    with records(FASIL) as svc:
        assert "hukuman_disiplin" not in svc.get_employee(nip)["histories"]


def test_the_record_as_of_a_moment(records):
    nip, person = new_person()
    with records(ADMIN) as svc:
        record = svc.register_employee(person, "impor awal")
        time.sleep(0.01)
        between = datetime.now(UTC).isoformat()
        time.sleep(0.01)
        svc.record_history(nip, {"history": "pangkat",
                                 "entry": {"golongan": "III/a", "tmt": "2015-03-01"},
                                 "expected_version": record["version"], "reason": "SK CPNS"})
        assert svc.get_employee(nip, between)["histories"]["pangkat"] == []
        assert len(svc.get_employee(nip)["histories"]["pangkat"]) == 1


def test_confidential_document_slots_are_filled_by_administrators_only(container_factory,
                                                                      service_config):
    from shared.objectstore import FileSystemStore
    from tests.document_samples import pdf_with_text

    container_factory(RecordsService, service_config).start()
    store = FileSystemStore(service_config["DOCUMENT_ROOT"])
    nip, person = new_person()
    person.pop("catatan_kesehatan")

    def records(context):
        return ServiceRpcProxy("records", service_config,
                               context_data=signed(context, service_config))

    with records(FASIL) as svc:
        record = svc.register_employee(person, "data awal")
        sha = svc.upload_document(store.put(pdf_with_text(marker=nip)).sha256, "sk.pdf",
                                  nip)["sha256"]
        with pytest.raises(Forbidden) as refused:
            svc.attach_document(nip, {"slot": "sk_hukuman_disiplin", "sha256": sha,
                                      "expected_version": record["version"],
                                      "reason": "SK hukdis"})
        assert refused.value.field == "slot"
    with records(ADMIN) as svc:
        attached = svc.attach_document(nip, {"slot": "sk_hukuman_disiplin", "sha256": sha,
                                             "expected_version": record["version"],
                                             "reason": "SK hukdis"})
        assert attached["documents"]["sk_hukuman_disiplin"][0]["sha256"] == sha
    with records(FASIL) as svc:
        assert "sk_hukuman_disiplin" not in svc.get_employee(nip)["documents"]


def test_the_record_timeline_names_what_changed_and_hides_what_is_confidential(records):
    """Issue 16: a record's history as steps (what, when, who, why), without values; the
    disciplinary history and confidential fields are an administrator's to see."""
    nip, person = new_person()
    with records(ADMIN) as svc:
        record = svc.register_employee(person, "impor awal")
        record = svc.record_history(nip, {"history": "pangkat",
                                          "entry": {"golongan": "III/a", "tmt": "2015-03-01"},
                                          "expected_version": record["version"],
                                          "reason": "SK CPNS"})
        svc.record_history(nip, {"history": "hukuman_disiplin", "entry": TEGURAN,
                                 "expected_version": record["version"],
                                 "reason": "SK teguran"})
        full = svc.record_timeline(nip)
    assert [(s["version"], s["event"], s["reason"]) for s in full] == [
        (1, "EmployeeRegistered", "impor awal"), (2, "HistoryEntryRecorded", "SK CPNS"),
        (3, "HistoryEntryRecorded", "SK teguran")]
    assert full[0]["actor_id"] == ADMIN["actor_id"] and "name" in full[0]["fields"]
    assert "catatan_kesehatan" in full[0]["fields"]
    assert full[1]["histories"] == ["pangkat"] and "III/a" not in str(full)
    for reader in (FASIL, AUDITOR, principal(nip, ["pegawai"])):
        with records(reader) as svc:
            steps = svc.record_timeline(nip)
        assert [s["version"] for s in steps] == [1, 2], reader
        assert "catatan_kesehatan" not in steps[0]["fields"]
    with records(OTHER_FASIL) as svc, pytest.raises(NotFound):
        svc.record_timeline(nip)
