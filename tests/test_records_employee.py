"""The employee aggregate (issue 4): registration checked against the identity rules, history
entries, a pegawai's proposals pending until decided, confidential parts hidden from
non-administrators, and state rebuilt from events alone."""

import hashlib
from dataclasses import dataclass
from datetime import date

import pytest

from services.records import domain
from services.records.events import REGISTRY

TODAY = date(2026, 11, 30)
DOC = hashlib.sha256(b"SK CPNS").hexdigest()
SITI = {"nip": "199001012015032001", "nik": "3578014101900001", "name": "Siti Rahayu",
        "gelar_belakang": "S.Kom.", "date_of_birth": "1990-01-01", "gender": "P",
        "status": "PNS", "tmt_cpns": "2015-03-01", "opd_id": "dinkes", "golongan": "III/a",
        "education_id": "40", "catatan_kesehatan": "alergi penisilin"}


@dataclass
class Recorded:
    event_type: str
    payload: dict


class Log:
    """Events as the store would hand them back, each validated against its schema."""

    def __init__(self):
        self.events: list[Recorded] = []

    def add(self, employee, changes):
        for event_type, payload in changes:
            REGISTRY.get(event_type).validate(payload)
            self.events.append(Recorded(event_type, payload))
            if employee is not None:
                employee.apply(event_type, payload)
        return employee


def registered():
    log = Log()
    employee = domain.Employee()
    log.add(employee, domain.register(SITI, today=TODAY))
    return log, employee


def test_registration_checks_the_identity_numbers_against_each_other():
    _, employee = registered()
    assert employee.nip == SITI["nip"] and employee.data["opd_id"] == "dinkes"
    with pytest.raises(domain.RuleViolation) as refused:
        domain.register({**SITI, "gender": "L"}, today=TODAY)
    assert {(p.field, p.code) for p in refused.value.problems} == {
        ("gender", "nip_mismatch_gender"), ("gender", "nik_mismatch_gender")}
    with pytest.raises(domain.RuleViolation) as refused:
        domain.register({**SITI, "golongan": "IV/e", "education_id": "05"}, today=TODAY)
    assert [p.code for p in refused.value.problems] == ["golongan_above_education"]


def test_pangkat_entries_respect_dates_and_the_education_ceiling():
    log, employee = registered()
    log.add(employee, domain.record_history(employee, "pangkat", "p1",
                                            {"golongan": "III/a", "tmt": "2015-03-01"}, [DOC]))
    log.add(employee, domain.record_history(employee, "pangkat", "p2",
                                            {"golongan": "III/b", "tmt": "2019-04-01"}, []))
    for entry, code in [({"golongan": "III/c", "tmt": "2019-04-01"}, "pangkat_overlap"),
                        ({"golongan": "III/c", "tmt": "2014-01-01"}, "tmt_before_cpns")]:
        with pytest.raises(domain.RuleViolation) as refused:
            domain.record_history(employee, "pangkat", "p3", entry, [])
        assert code in [p.code for p in refused.value.problems]
    assert [e["golongan"] for e in employee.histories["pangkat"]] == ["III/a", "III/b"]
    assert employee.histories["pangkat"][0]["documents"] == [DOC]


def test_confidential_parts_are_seen_by_administrators_only():
    log, employee = registered()
    log.add(employee, domain.record_history(
        employee, "hukuman_disiplin", "h1",
        {"kode": "R2", "mulai": "2024-02-01"}, [DOC]))
    public = employee.view(confidential=False)
    assert "catatan_kesehatan" not in public and "hukuman_disiplin" not in public["histories"]
    full = employee.view(confidential=True)
    assert full["catatan_kesehatan"] == "alergi penisilin"
    assert full["histories"]["hukuman_disiplin"][0]["kode"] == "R2"


def test_a_pegawai_proposes_and_a_verifier_decides_once():
    log, employee = registered()
    log.add(employee, domain.propose(employee, "c1", {"address": "Jl. Pahlawan 1, Surabaya"},
                                     [DOC]))
    assert employee.pending and employee.data.get("address") is None
    with pytest.raises(domain.RuleViolation) as refused:
        domain.propose(employee, "c2", {"nip": "199001012015032002", "address": "x"}, [])
    assert [p.field for p in refused.value.problems] == ["changes.nip"]
    log.add(employee, domain.decide(employee, "c1", True, "sesuai KTP"))
    assert employee.data["address"] == "Jl. Pahlawan 1, Surabaya" and not employee.pending
    with pytest.raises(domain.RuleViolation):
        domain.decide(employee, "c1", False, "terlambat")
    log.add(employee, domain.propose(employee, "c3", {"marital_status": "Kawin"}, []))
    log.add(employee, domain.decide(employee, "c3", False, "akta nikah belum diunggah"))
    assert employee.data.get("marital_status") is None


def test_replaying_the_events_reproduces_the_state():
    log, employee = registered()
    log.add(employee, domain.record_history(employee, "pangkat", "p1",
                                            {"golongan": "III/a", "tmt": "2015-03-01"}, []))
    log.add(employee, domain.propose(employee, "c1", {"name": "Siti Rahayu Ningsih"}, []))
    log.add(employee, domain.decide(employee, "c1", True, "akta"))
    rebuilt = domain.replay_employee(log.events)
    assert rebuilt.view(confidential=True) == employee.view(confidential=True)
    assert rebuilt.version == len(log.events)


ACCEPTED_ENTRIES = {
    "jabatan": {"jenis_jabatan": "struktural", "nama_jabatan": "Kepala Seksi", "eselon": "IV.a",
                "tmt": "2019-01-02", "sk_nomor": "821/1/2019"},
    "pendidikan": {"education_id": "45", "programme": "Magister Kesehatan",
                   "lulus_tanggal": "2018-08-30"},
    "keluarga": {"hubungan": "suami", "nama": "Budi", "tanggal_lahir": "1988-05-05",
                 "tanggal_nikah": "2016-02-14", "tunjangan": True},
    "diklat": {"jenis": "latsar", "nama": "Latsar CPNS", "mulai": "2015-09-01",
               "selesai": "2015-10-15", "jam_pelajaran": 160},
    "penghargaan": {"nama": "Satyalancana Karya Satya X Tahun", "tanggal": "2025-08-17"},
    "hukuman_disiplin": {"kode": "S1", "mulai": "2024-02-01", "akhir": "2024-08-01"},
    "kinerja": {"tahun": 2024, "predikat": "Sangat Baik"},
    "gaji_berkala": {"tmt": "2017-03-01", "gaji_pokok": 3_000_000, "golongan": "III/a",
                     "masa_kerja_tahun": 2},
}

REFUSED_ENTRIES = [
    ("jabatan", {"jenis_jabatan": "struktural", "nama_jabatan": "X", "eselon": "VI.z",
                 "tmt": "2019-01-02"}, "eselon_unknown"),
    ("jabatan", {"jenis_jabatan": "pelaksana", "nama_jabatan": "X", "tmt": "1985-01-01"},
     "date_before_birth"),
    ("pendidikan", {"education_id": "99", "lulus_tanggal": "2010-01-01"}, "education_unknown"),
    ("keluarga", {"hubungan": "istri", "nama": "A", "tanggal_nikah": "1989-01-01"},
     "date_before_birth"),
    ("diklat", {"jenis": "teknis", "nama": "X", "mulai": "2020-02-01", "selesai": "2020-01-01"},
     "dates_out_of_order"),
    ("hukuman_disiplin", {"kode": "Z9", "mulai": "2024-01-01"}, "penalty_unknown"),
    ("hukuman_disiplin", {"kode": "B1", "mulai": "2024-01-01", "akhir": "2023-01-01"},
     "dates_out_of_order"),
    ("kinerja", {"tahun": 2023, "predikat": "Lumayan"}, "predicate_unknown"),
    ("gaji_berkala", {"tmt": "2017-03-01", "gaji_pokok": 1, "golongan": "V/a"},
     "golongan_unknown"),
]


@pytest.mark.parametrize("history", sorted(ACCEPTED_ENTRIES))
def test_every_history_takes_a_dated_entry(history):
    log, employee = registered()
    log.add(employee, domain.record_history(employee, history, "e1", ACCEPTED_ENTRIES[history],
                                            [DOC]))
    assert employee.histories[history][0]["entry_id"] == "e1"
    with pytest.raises(domain.RuleViolation) as again:  # the same entry id twice
        domain.record_history(employee, history, "e1", ACCEPTED_ENTRIES[history], [])
    assert again.value.problems[0].code == "entry_exists"


@pytest.mark.parametrize(("history", "entry", "code"), REFUSED_ENTRIES,
                         ids=[f"{h}-{c}" for h, _, c in REFUSED_ENTRIES])
def test_history_entries_that_break_a_rule_are_refused_naming_the_field(history, entry, code):
    _, employee = registered()
    with pytest.raises(domain.RuleViolation) as refused:
        domain.record_history(employee, history, "e1", entry, [])
    problem = next(p for p in refused.value.problems if p.code == code)
    assert problem.field.startswith("entry.")


def test_one_kinerja_per_year_and_one_gaji_berkala_per_tmt():
    log, employee = registered()
    log.add(employee, domain.record_history(employee, "kinerja", "k1",
                                            {"tahun": 2024, "predikat": "Baik"}, []))
    log.add(employee, domain.record_history(employee, "gaji_berkala", "g1",
                                            ACCEPTED_ENTRIES["gaji_berkala"], []))
    with pytest.raises(domain.RuleViolation) as refused:
        domain.record_history(employee, "kinerja", "k2", {"tahun": 2024, "predikat": "Baik"}, [])
    assert refused.value.problems[0].code == "kinerja_year_exists"
    with pytest.raises(domain.RuleViolation) as refused:
        domain.record_history(employee, "gaji_berkala", "g2", ACCEPTED_ENTRIES["gaji_berkala"], [])
    assert refused.value.problems[0].code == "kgb_tmt_exists"


def test_the_api_checks_each_history_entry_against_its_own_shape():
    from marshmallow import ValidationError

    from shared.contracts import records as contract

    assert list(contract.HISTORIES) == list(domain.HISTORIES)
    base = {"expected_version": 1, "reason": "SKP 2024"}
    loaded = contract.HistoryRequest().load(
        {**base, "history": "kinerja", "entry": ACCEPTED_ENTRIES["kinerja"]})
    assert loaded["entry"] == ACCEPTED_ENTRIES["kinerja"]
    with pytest.raises(ValidationError) as bad:
        contract.HistoryRequest().load({**base, "history": "diklat", "entry": {
            "jenis": "piknik", "nama": "X", "selesai": "kemarin", "hadiah": 1}})
    assert set(bad.value.messages["entry"]) == {"jenis", "selesai", "hadiah"}


def test_document_slots_gain_versions_and_refuse_unknown_slots_and_repeats():
    log, employee = registered()
    first = {"sha256": "a" * 64, "content_type": "application/pdf", "size": 9, "pages": 1}
    second = {**first, "sha256": "b" * 64}
    log.add(employee, domain.attach_document(employee, "sk_cpns", first))
    with pytest.raises(domain.RuleViolation) as repeat:
        domain.attach_document(employee, "sk_cpns", first)
    assert repeat.value.problems[0].code == "document_unchanged"
    log.add(employee, domain.attach_document(employee, "sk_cpns", second))
    assert [v["version"] for v in employee.documents["sk_cpns"]] == [1, 2]
    with pytest.raises(domain.RuleViolation) as unknown:
        domain.attach_document(employee, "foto_liburan", first)
    assert unknown.value.problems[0].code == "slot_unknown"
    log.add(employee, domain.attach_document(employee, "sk_hukuman_disiplin",
                                             {**first, "sha256": "c" * 64}))
    assert "sk_hukuman_disiplin" not in employee.view(confidential=False)["documents"]
    assert not employee.may_download("c" * 64, confidential=False)
    assert employee.may_download("c" * 64, confidential=True)
    assert employee.may_download("a" * 64, confidential=False)
