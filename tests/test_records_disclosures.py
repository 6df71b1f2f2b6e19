"""The disclosure log (issue 17 part 3) against real RabbitMQ and PostgreSQL, through the records
service: a releasing service records a disclosure (once per id, validated, refused to a person
or to the gateway's callers); an auditor's reads of a record, its as-of view, a field's history
and its timeline are each logged with the read; a pegawai sees exactly the releases of their
own data (who, when, which fields, why) and never who else was in them; BKD and auditors list
with filters and report per recipient and purpose."""

from __future__ import annotations

import uuid

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from shared.errors import Forbidden
from tests.helpers import fetch, raises_code, signed
from tests.records_helpers import ADMIN, AUDITOR, FASIL, new_person, principal

pytestmark = pytest.mark.timeout(120)
REPORTING = {"actor_id": "service:reporting", "actor_role": "system",
             "actor_roles": ["system"], "actor_scope": []}


@pytest.fixture
def config(own_database, service_config, container_factory):
    config = {**service_config, "DATABASE_URL": own_database}
    container_factory(RecordsService, config).start()
    return config


def call(config, context):
    return ServiceRpcProxy("records", config, context_data=signed(context, config))


def release(nips, **extra) -> dict:
    return {"channel": "agency_api",
            "recipient": {"kind": "agency", "id": "bpjs-kesehatan", "name": "BPJS Kesehatan"},
            "basis": {"kind": "PKS", "reference": "PKS/12/2026"},
            "purpose": "verifikasi kepesertaan", "fields": ["nip", "name", "golongan"],
            "nips": nips, **extra}


def test_the_disclosure_log_records_every_release_and_shows_each_pegawai_their_own(
        config, own_database):
    people = [new_person() for _ in range(3)]
    with call(config, ADMIN) as records:
        for _, data in people:
            records.register_employee(data, "data awal")
    (a, _), (b, _), (c, _) = people

    with call(config, REPORTING) as records:
        first_id = str(uuid.uuid4())
        first = records.record_disclosure(release([a, b, a], disclosure_id=first_id))
        assert first["recorded"] and first["subjects"] == 2 and first["disclosure_id"] == first_id
        # a retry with the same id is the same disclosure, not a second one
        again = records.record_disclosure(release([a, b], disclosure_id=first_id))
        assert not again["recorded"] and again["disclosed_at"] == first["disclosed_at"]
        records.record_disclosure({**release([b]), "channel": "export",
                                   "recipient": {"kind": "account", "id": "fas.dkp"},
                                   "basis": {"kind": "export", "reference": "e-1"},
                                   "purpose": "bahan rapat Baperjakat", "fields": ["nip"]})
        for bad, field in ((release([]), "nips"), (release(["123"]), "nips.0"),
                           ({**release([a]), "channel": "email"}, "channel"),
                           ({**release([a]), "fields": ["NIK!"]}, "fields.0"),
                           ({**release([a]), "basis": {"kind": "MoU"}}, "basis.reference")):
            with raises_code("validation_failed") as refused:
                records.record_disclosure(bad)
            assert refused.value.field == field, bad
    # a person (or anything the gateway vouches for) may not write the log
    for nobody in (ADMIN, principal("kabkota-3507", ["machine"])):
        with call(config, nobody) as records, pytest.raises(Forbidden):
            records.record_disclosure(release([a]))
    events = fetch(own_database, "SELECT payload FROM records.events WHERE stream_id = %s",
                   (f"disclosure:{first_id}",))
    assert len(events) == 1 and events[0][0]["nips"] == sorted([a, b])
    assert events[0][0]["recipient"]["id"] == "bpjs-kesehatan"

    # an auditor's reads are disclosures, recorded with the read; BKD's own are not
    with call(config, AUDITOR) as records:
        records.get_employee(c)
        records.get_employee(c, "2030-01-01T00:00:00+07:00")
        records.field_history(c, "golongan")
        records.record_timeline(c)
    with call(config, ADMIN) as records:
        records.get_employee(c)
    audited = fetch(own_database, "SELECT d.channel, d.recipient_id, d.reference, d.fields "
                                  "FROM records.disclosures d JOIN records.disclosure_subjects "
                                  "s USING (disclosure_id) WHERE s.nip = %s ORDER BY "
                                  "d.disclosed_at", (c,))
    assert [(r[0], r[1]) for r in audited] == [("auditor_read", AUDITOR["actor_id"])] * 4
    assert [r[2].split(" ", 1)[1] if " " in r[2] else "" for r in audited][2:] == [
        "field golongan", "timeline"]
    assert "as_of" in audited[1][2] and "name" in audited[0][3]

    # each pegawai: exactly the releases of their own data, never who else was in them
    for nip, expected in ((a, [("agency_api", "bpjs-kesehatan")]),
                          (b, [("export", "fas.dkp"), ("agency_api", "bpjs-kesehatan")]),
                          (c, [("auditor_read", AUDITOR["actor_id"])] * 4)):
        with call(config, principal(nip, ["pegawai"])) as records:
            mine = records.my_disclosures({})
        assert [(d["channel"], d["recipient"]["id"]) for d in mine] == expected, nip
        assert all("subjects" not in d and "reference" not in d for d in mine)
    with call(config, principal(a, ["pegawai"])) as records:
        (only,) = records.my_disclosures({"limit": 5})
        assert only["fields"] == ["golongan", "name", "nip"]
        assert only["purpose"] == "verifikasi kepesertaan"
        assert only["basis"] == {"kind": "PKS", "reference": "PKS/12/2026"}
        assert only["recipient"]["name"] == "BPJS Kesehatan"
        with pytest.raises(Forbidden):
            records.list_disclosures({})
    with call(config, FASIL) as records, pytest.raises(Forbidden):
        records.my_disclosures({})  # an account that is not a NIP has no data of its own

    # BKD and auditors: everything, filtered; the report per recipient and purpose
    with call(config, AUDITOR) as records:
        assert len(records.list_disclosures({})) == 6
        assert [d["subjects"] for d in records.list_disclosures({"channel": "agency_api"})] \
            == [2]
        assert {d["channel"] for d in records.list_disclosures({"nip": b})} == {
            "export", "agency_api"}
        assert records.list_disclosures({"recipient_id": "nobody"}) == []
        assert len(records.list_disclosures({"since": "2000-01-01", "until": "2100-01-01"})) \
            == 6
        assert records.list_disclosures({"until": "2000-01-01"}) == []
        report = records.disclosure_report({})
        rows = {(r["recipient"]["id"], r["purpose"]): r for r in report["per_recipient"]}
        assert rows[("bpjs-kesehatan", "verifikasi kepesertaan")]["subjects"] == 2
        assert rows[(AUDITOR["actor_id"], "pemeriksaan (audit) data kepegawaian")][
            "disclosures"] == 4
        assert report["total_disclosures"] == 6
        assert {p["purpose"] for p in report["per_purpose"]} == {
            "verifikasi kepesertaan", "bahan rapat Baperjakat",
            "pemeriksaan (audit) data kepegawaian"}
        with raises_code("validation_failed") as refused:
            records.list_disclosures({"channel": "fax"})
        assert refused.value.field == "channel"
