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
        {"kode": "R2", "tingkat": "ringan", "tmt": "2024-02-01"}, [DOC]))
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
