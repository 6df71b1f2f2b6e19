"""Where an employee works, province-wide (issue 14, part 1): every employee belongs to an
instansi (the province "35" or a kabupaten/kota's BPS code), existing data migrates to the
province, a provincial fasilitator's OPD scope never reaches a kab/kota employee, and a region's
change reaches records through `apply_region_change` — its own employees only, invalid data
refused field by field with nothing written, each event id applied once."""

import json
import uuid

import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records import domain, projection
from services.records.events import REGISTRY
from services.records.service import RecordsService
from services.records.usecases.employees import may_maintain, region_of
from shared.auth import Principal
from shared.errors import Forbidden, NotFound
from shared.eventstore import NO_STREAM, EventStore, NewEvent
from shared.migrations import migrate
from shared.objectstore import FileSystemStore
from shared.reference import domain_data, instansi
from shared.testing import create_test_database, drop_test_database
from tests.conftest import ADMIN_URL
from tests.helpers import raises_code, signed
from tests.records_helpers import ADMIN, AUDITOR, FASIL, new_person, principal

pytestmark = pytest.mark.timeout(180)

SYNC = {"actor_id": "system:sync", "actor_role": "system", "actor_roles": ["system"]}
#: a provincial fasilitator of DINKES, even one whose scope somehow names a region's unit code
FASIL_DINKES = principal("fas.dinkes", ["fasilitator"], ["dinkes", "3507.dinkes"])
JABATAN = {"jenis_jabatan": "fungsional", "nama_jabatan": "Perawat", "tmt": "2016-01-01"}


@pytest.fixture
def records(container_factory, service_config):
    container_factory(RecordsService, service_config).start()
    return lambda context: ServiceRpcProxy("records", service_config,
                                           context_data=signed(context, service_config))


def kabkota_person(region="3507"):
    nip, person = new_person()
    person.pop("catatan_kesehatan")
    return nip, {**person, "opd_id": f"{region}.dinkes",
                 "opd_name": "Dinas Kesehatan Kabupaten Malang"}


def change(kind, nip, data, sequence=1, event_id=None):
    return {"event_id": event_id or str(uuid.uuid4()), "sequence": sequence, "kind": kind,
            "nip": nip, "data": data}


def stream_version(database_url, nip):
    conn = psycopg2.connect(database_url)
    try:
        return EventStore("records").stream_version(conn, f"employee:{nip}")
    finally:
        conn.close()


def problem_fields(error) -> set[str]:
    return {p["field"] for p in error.details["problems"]}


# -- reference data and rules alone ---------------------------------------------------------------

def test_the_instansi_list_is_the_province_and_the_38_kabupaten_kota():
    codes = instansi()
    assert len(codes) == 39 and codes["35"]["name"] == "Pemerintah Provinsi Jawa Timur"
    assert set(codes) - {"35"} == {k["kode_bps_nik"] for k in domain_data()["kab_kota_jatim"]}
    assert codes["3507"]["short"] == "Kab. Malang" and codes["3573"]["short"] == "Kota Malang"


def test_a_kabkota_unit_is_the_regions_own_and_a_provincial_scope_never_reaches_it():
    _, person = kabkota_person()
    assert domain.placement_problems({**person, "instansi": "3507"}) == []
    codes = {p.code for p in domain.placement_problems(
        {**person, "instansi": "3507", "opd_id": "dinkes", "opd_name": None})}
    assert codes == {"opd_not_of_instansi", "opd_name_missing"}
    assert {p.code for p in domain.placement_problems(
        {**person, "instansi": "3573"})} == {"opd_not_of_instansi"}
    assert {p.code for p in domain.placement_problems(
        {**person, "instansi": "35"})} == {"opd_unknown"}
    assert {p.code for p in domain.placement_problems({**person, "instansi": "3599"})} == {
        "instansi_unknown"}
    fasilitator = Principal("fas.dinkes", frozenset({"fasilitator"}),
                            frozenset({"dinkes", "3507.dinkes"}))
    assert may_maintain(fasilitator, "dinkes", "35")
    assert not may_maintain(fasilitator, "3507.dinkes", "3507")
    assert not may_maintain(fasilitator, "dinkes", "3507")
    client = Principal("kabkota-3507", frozenset({"machine"}), frozenset())
    assert region_of(client) == "3507" and may_maintain(client, "3507.dinkes", "3507")
    assert not may_maintain(client, "3573.dinkes", "3573")
    assert not may_maintain(client, "dinkes", "35")
    agency = Principal("bpjs", frozenset({"machine"}), frozenset())
    assert region_of(agency) is None and not may_maintain(agency, "dinkes", "35")


# -- migration of existing data -----------------------------------------------------------------

def test_employees_registered_before_belong_to_the_province_and_replay_equals_the_row():
    """A database as issue 13 left it: an EmployeeRegistered v1 event and its projection row
    without an instansi. Migration 006 gives the row instansi "35"; a replay (the v1 event
    upcast) gives the same; `records check` is clean."""
    url = create_test_database(ADMIN_URL)
    try:
        migrate(url)
        conn = psycopg2.connect(url)
        nip, person = new_person()
        with conn, conn.cursor() as cur:
            cur.execute("DROP TABLE records.region_changes; DROP INDEX records.employees_instansi; "
                        "ALTER TABLE records.employees DROP COLUMN instansi; "
                        "DELETE FROM records.schema_migrations WHERE name = '006_instansi'")
            # what the release before wrote: a v1 event (no registry: stored as version 1)
            EventStore("records").append(conn, f"employee:{nip}", "Employee", NO_STREAM,
                                         [NewEvent("EmployeeRegistered", person)],
                                         {"actor_id": "admin.bkd", "reason": "impor awal"})
            old = domain.Employee()
            old.apply("EmployeeRegistered", person)
            assert "instansi" not in old.view(confidential=True)
            cur.execute("INSERT INTO records.employees (nip, opd_id, name, status, version, "
                        "record) VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
                        (nip, "dkp", person["name"], "PNS", 1,
                         json.dumps(old.view(confidential=True))))
            cur.execute("SELECT schema_version FROM records.events WHERE stream_id = %s",
                        (f"employee:{nip}",))
            assert cur.fetchone() == (1,)
        assert migrate(url) == ["records/006_instansi"]
        with conn, conn.cursor() as cur:
            cur.execute("SELECT instansi, record->>'instansi' FROM records.employees "
                        "WHERE nip = %s", (nip,))
            assert cur.fetchone() == ("35", "35")
        (replayed,) = list(projection.replayed(conn))
        assert replayed.data["instansi"] == "35"
        assert projection.row_for(replayed)["instansi"] == "35"
        report = projection.check(conn)
        assert report.ok and report.checked == 1, report
        events = EventStore("records", REGISTRY).read_stream(conn, f"employee:{nip}")
        assert events[0].payload["instansi"] == "35"
        conn.close()
    finally:
        drop_test_database(url)


# -- the region's change ------------------------------------------------------------------------

def test_a_kabkota_employee_is_registered_through_the_region_change_once(records,
                                                                        database_url):
    nip, person = kabkota_person("3507")
    registered = change("employee_registered", nip, {k: v for k, v in person.items()
                                                     if k != "nip"}, sequence=7)
    with records(SYNC) as sync:
        assert sync.apply_region_change("3507", registered) == {
            "status": "applied", "nip": nip, "version": 1}
        assert sync.apply_region_change("3507", registered) == {
            "status": "duplicate", "nip": nip, "version": 1}
        with raises_code("region_event_reused") as reused:
            sync.apply_region_change("3507", {**registered, "data": {**registered["data"],
                                                                     "name": "Lain"}})
        assert reused.value.field == "event_id"
        moved = change("data_pokok_changed", nip, {"changes": {"address": "Jl. Ijen 1"}}, 8)
        assert sync.apply_region_change("3507", moved)["version"] == 2
        assert sync.apply_region_change("3507", moved)["status"] == "duplicate"
        entry = change("history_recorded", nip, {"history": "jabatan", "entry": JABATAN}, 9)
        assert sync.apply_region_change("3507", entry) == {
            "status": "applied", "nip": nip, "version": 3}
        unchanged = change("data_pokok_changed", nip, {"changes": {"address": "Jl. Ijen 1"}}, 10)
        assert sync.apply_region_change("3507", unchanged) == {
            "status": "applied", "nip": nip, "version": 3}
    assert stream_version(database_url, nip) == 3
    with records(ADMIN) as svc:
        record = svc.get_employee(nip)
    assert (record["instansi"], record["opd_id"], record["opd_name"]) == (
        "3507", "3507.dinkes", "Dinas Kesehatan Kabupaten Malang")
    assert record["address"] == "Jl. Ijen 1"
    assert record["histories"]["jabatan"][0]["entry_id"] == entry["event_id"]
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT metadata->>'actor_id', metadata->>'reason' FROM records.events "
                        "WHERE stream_id = %s ORDER BY version", (f"employee:{nip}",))
            metadata = cur.fetchall()
            cur.execute("SELECT instansi, opd_id FROM records.employees WHERE nip = %s", (nip,))
            assert cur.fetchone() == ("3507", "3507.dinkes")
            cur.execute("SELECT count(*) FROM records.region_changes WHERE nip = %s", (nip,))
            assert cur.fetchone() == (4,)
    finally:
        conn.close()
    assert [m[0] for m in metadata] == ["sync:3507"] * 3
    assert "Kab. Malang (urutan 7" in metadata[0][1]


def test_a_provincial_fasilitator_never_reaches_a_kabkota_employee(records):
    nip, person = kabkota_person("3507")
    with records(SYNC) as sync:
        sync.apply_region_change("3507", change("employee_registered", nip, person))
    history = {"history": "jabatan", "entry": JABATAN, "expected_version": 1,
               "reason": "bukan wewenang"}
    for fasilitator in (FASIL, FASIL_DINKES):
        with records(fasilitator) as svc:
            with pytest.raises(NotFound):
                svc.get_employee(nip)
            with pytest.raises(NotFound):
                svc.record_history(nip, history)
            with pytest.raises(NotFound):
                svc.attach_document(nip, {"slot": "ktp", "sha256": "ab" * 32,
                                          "expected_version": 1, "reason": "bukan wewenang"})
            with pytest.raises(NotFound):
                svc.authorize_download(nip, "ab" * 32)
            with pytest.raises(NotFound):
                svc.documents_not_owned(nip, ["ab" * 32])
            with pytest.raises(NotFound):
                svc.decide_change(nip, {"change_id": "x", "apply": True, "reason": "tidak",
                                        "expected_version": 1})
            with pytest.raises(NotFound):
                svc.field_history(nip, "name")
            with raises_code("instansi_forbidden"):  # nor registers one
                svc.register_employee({**kabkota_person()[1], "instansi": "3507"}, "tidak")
            with pytest.raises(Forbidden):  # proposing is the pegawai's own
                svc.propose_change(nip, {"changes": {"address": "Jl. Lain"}})
    with records(principal(nip, ["pegawai"])) as svc:
        assert svc.get_employee(nip)["instansi"] == "3507"
        proposed = svc.propose_change(nip, {"changes": {"address": "Jl. Sendiri"}})
    for reader in (ADMIN, AUDITOR):
        with records(reader) as svc:
            assert svc.get_employee(nip)["opd_id"] == "3507.dinkes"
    with records(FASIL_DINKES) as svc:  # the pegawai's proposal is not theirs to decide
        with pytest.raises(NotFound):
            svc.decide_change(nip, {"change_id": proposed["change_id"], "apply": True,
                                    "reason": "tidak", "expected_version": proposed["version"]})
    with records(ADMIN) as svc:  # an administrator registers anyone, in any instansi
        other_nip, other = kabkota_person("3573")
        assert svc.register_employee({**other, "instansi": "3573", "opd_id": "3573.dinkes"},
                                     "data awal")["instansi"] == "3573"


def test_a_region_writes_only_its_own_employees(records, database_url):
    malang_kota, person_3573 = kabkota_person("3573")
    provincial, person_35 = new_person()
    person_35.pop("catatan_kesehatan")
    with records(SYNC) as sync:
        sync.apply_region_change("3573", change("employee_registered", malang_kota,
                                                {**person_3573, "opd_id": "3573.dinkes"}))
    with records(ADMIN) as svc:
        svc.register_employee(person_35, "data awal")
    attempts = [
        change("data_pokok_changed", malang_kota, {"changes": {"address": "Jl. Lain"}}),
        change("history_recorded", malang_kota, {"history": "jabatan", "entry": JABATAN}),
        change("employee_registered", malang_kota, person_3573),
        change("data_pokok_changed", provincial, {"changes": {"address": "Jl. Lain"}}),
        change("history_recorded", provincial, {"history": "jabatan", "entry": JABATAN}),
        change("employee_registered", provincial, person_35),
    ]
    with records(SYNC) as sync:
        for attempt in attempts:
            with raises_code("instansi_forbidden") as refused:
                sync.apply_region_change("3507", attempt)
            assert refused.value.field == "nip" and refused.value.http_status == 403
        # nor registers someone into another instansi
        nip, person = kabkota_person("3507")
        with raises_code("instansi_forbidden") as other:
            sync.apply_region_change("3507", change("employee_registered", nip,
                                                    {**person, "instansi": "3573"}))
        assert other.value.field == "instansi"
        with raises_code("record_rejected") as unit:  # a unit of another region
            sync.apply_region_change("3507", change("employee_registered", nip,
                                                    {**person, "opd_id": "3573.dinkes"}))
        assert problem_fields(unit.value) == {"data.opd_id"}
    assert stream_version(database_url, malang_kota) == 1
    assert stream_version(database_url, provincial) == 1
    assert stream_version(database_url, nip) == 0
    with records(ADMIN) as svc:  # only a service applies a region's change
        with pytest.raises(Forbidden):
            svc.apply_region_change("3507", change("employee_registered", nip, person))


def test_invalid_data_is_refused_with_every_field_and_nothing_written(records, database_url):
    nip, person = kabkota_person("3507")
    invalid = {**person, "gender": "L", "date_of_birth": "1990-01-01"}
    refusals = [
        (change("employee_registered", nip, invalid), "record_rejected", {"data.gender"}),
        (change("employee_registered", nip, {**person, "date_of_birth": "kemarin",
                                             "status": "Honorer"}),
         "validation_failed", {"data.date_of_birth", "data.status"}),
        (change("employee_registered", nip, {k: v for k, v in person.items()
                                             if k != "opd_name"}),
         "record_rejected", {"data.opd_name"}),
        (change("employee_registered", nip, {**person, "nip": "199001012015032999"}),
         "validation_failed", {"data.nip"}),
    ]
    with records(SYNC) as sync:
        for bad, code, fields in refusals:
            with raises_code(code) as refused:
                sync.apply_region_change("3507", bad)
            assert refused.value.http_status == 422
            assert problem_fields(refused.value) == fields, refused.value.details
        with raises_code("validation_failed") as envelope:
            sync.apply_region_change("3599", {"event_id": "x", "sequence": 0, "kind": "y",
                                              "nip": nip, "data": {}})
        assert problem_fields(envelope.value) == {"region", "event_id", "sequence", "kind"}
        assert stream_version(database_url, nip) == 0
        first = change("employee_registered", nip, person)
        assert sync.apply_region_change("3507", first)["status"] == "applied"
        bad_pokok = change("data_pokok_changed", nip, {"changes": {
            "golongan": "V/z", "gender": "L", "warna": "biru"}})
        with raises_code("validation_failed") as shape:
            sync.apply_region_change("3507", bad_pokok)
        assert problem_fields(shape.value) == {"data.changes.warna"}
        bad_pokok["data"]["changes"].pop("warna")
        with raises_code("record_rejected") as rules:
            sync.apply_region_change("3507", bad_pokok)
        assert problem_fields(rules.value) == {"data.changes.golongan", "data.changes.gender"}
        with raises_code("record_rejected") as identity:
            sync.apply_region_change("3507", change("data_pokok_changed", nip, {
                "changes": {"instansi": "3573", "nip": "199001012015032999"}}))
        assert problem_fields(identity.value) == {"data.changes.instansi", "data.changes.nip"}
        entry = change("history_recorded", nip, {"history": "jabatan", "entry": {
            **JABATAN, "tmt": "1980-01-01"}})
        with raises_code("record_rejected") as before_birth:
            sync.apply_region_change("3507", entry)
        assert problem_fields(before_birth.value) == {"data.entry.tmt"}
        with raises_code("validation_failed") as shapeless:
            sync.apply_region_change("3507", change("history_recorded", nip, {
                "history": "jabatan", "entry": {"tmt": "kemarin"}}))
        assert {"data.entry.tmt", "data.entry.nama_jabatan"} <= problem_fields(shapeless.value)
        with raises_code("document_not_owned") as document:
            sync.apply_region_change("3507", change("history_recorded", nip, {
                "history": "jabatan", "entry": JABATAN, "documents": ["ab" * 32]}))
        assert problem_fields(document.value) == {"data.documents[0]"}
        with raises_code("forbidden") as confidential:
            sync.apply_region_change("3507", change("data_pokok_changed", nip, {
                "changes": {"catatan_kesehatan": "asma"}}))
        assert confidential.value.field == "catatan_kesehatan"
        assert stream_version(database_url, nip) == 1
        # a refused change recorded nothing: fixed, the same event id applies
        entry["data"]["entry"]["tmt"] = "2016-01-01"
        assert sync.apply_region_change("3507", entry)["status"] == "applied"
    assert stream_version(database_url, nip) == 2


def test_an_opd_import_never_reaches_a_kabkota_employee(container_factory, service_config):
    """A provincial OPD's import cannot update a kab/kota employee (same NIP) nor register one
    (a row naming a kab/kota instansi)."""
    from tests.test_records_import import HEADER, csv_bytes, person_row, run_import

    config = {**service_config, "IMPORT_STALE_SECONDS": 1, "IMPORT_CHUNK_ROWS": 3}
    container_factory(RecordsService, config).start()
    store = FileSystemStore(config["DOCUMENT_ROOT"])

    def call(context):
        return ServiceRpcProxy("records", config, context_data=signed(context, config))

    theirs = person_row()
    registration = {"nik": theirs["NIK"], "name": "Pegawai Kab", "gender":
                    theirs["Jenis Kelamin"], "date_of_birth": theirs["Tanggal Lahir"],
                    "status": "PNS", "tmt_cpns": theirs["tmt_cpns"], "opd_id": "3507.dkp",
                    "opd_name": "Dinas Kelautan Kab. Malang"}
    with call(SYNC) as sync:
        sync.apply_region_change("3507", change("employee_registered", theirs["NIP"],
                                                registration))
    other = person_row(instansi="3507")
    report = run_import(call, store, csv_bytes([{**theirs, "alamat": "Jl. Impor"}, other],
                                               header=HEADER + ["instansi"]))
    codes = {row["nip"]: {p["code"] for p in row["problems"]} for row in report["problems"]}
    assert codes == {theirs["NIP"]: {"employee_other_opd"},
                     other["NIP"]: {"opd_not_of_instansi", "opd_name_missing"}}
    with call(ADMIN) as svc:
        assert "address" not in svc.get_employee(theirs["NIP"])
        with pytest.raises(NotFound):
            svc.get_employee(other["NIP"])
