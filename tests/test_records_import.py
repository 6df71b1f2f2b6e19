"""Bulk import of an OPD's employees (issue 4): CSV and XLSX files in the object store, a report
per row, valid rows imported whole, invalid rows listed with their reasons, safe to re-run, and
a job that lost its runner resumed after its last committed chunk — against the real records
service, PostgreSQL and RabbitMQ."""

import csv
import io
from datetime import datetime

import openpyxl
import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records.service import RecordsService
from services.records.usecases import imports
from shared.errors import Forbidden
from shared.objectstore import FileSystemStore
from shared.testing import wait_for
from tests.helpers import raises_code, signed
from tests.identity_helpers import unique_nip
from tests.records_helpers import ADMIN, FASIL, OTHER_FASIL

HEADER = ["NIP", "NIK", "Nama", "Tanggal Lahir", "Jenis Kelamin", "status", "tmt_cpns",
          "golongan", "pendidikan", "tmt_golongan", "alamat"]


def person_row(nip=None, **changes):
    nip = nip or unique_nip()
    born = f"{nip[0:4]}-{nip[4:6]}-{nip[6:8]}"
    female = nip[14] == "2"
    nik = f"357801{int(nip[6:8]) + (40 if female else 0):02d}{nip[4:6]}{nip[2:4]}0001"
    row = {"NIP": nip, "NIK": nik, "Nama": "Pegawai Impor", "Tanggal Lahir": born,
           "Jenis Kelamin": "P" if female else "L", "status": "PNS",
           "tmt_cpns": f"{nip[8:12]}-{nip[12:14]}-01", "golongan": "III/a", "pendidikan": "40",
           "tmt_golongan": f"{nip[8:12]}-{nip[12:14]}-01", "alamat": "Jl. Pahlawan 1"}
    row.update(changes)
    return row


def csv_bytes(rows, header=HEADER, delimiter=","):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


@pytest.fixture
def stack(container_factory, service_config):
    config = {**service_config, "IMPORT_STALE_SECONDS": 1, "IMPORT_CHUNK_ROWS": 3}
    container_factory(RecordsService, config).start()
    store = FileSystemStore(config["DOCUMENT_ROOT"])

    def call(context):
        return ServiceRpcProxy("records", config, context_data=signed(context, config))

    return call, store


def run_import(call, store, data: bytes, context=FASIL, opd="dkp", name="pegawai.csv"):
    stored = store.put(data)
    with call(context) as svc:
        job = svc.start_import({"opd_id": opd, "sha256": stored.sha256, "file_name": name})
        wait_for(lambda: svc.get_import(job["import_id"])["status"] != "running", timeout=60,
                 message="the import finishes")
        return svc.get_import(job["import_id"], 0, 1000)


def log_head(database_url):
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM records.events WHERE stream_type = 'Employee'")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_valid_rows_are_imported_and_invalid_rows_reported_with_reasons(stack, database_url):
    call, store = stack
    good = [person_row() for _ in range(5)]
    bad_nip = person_row(NIP="19900101201503")
    wrong_gender = person_row(**{"Jenis Kelamin": "X"})
    too_high = person_row(golongan="IV/e", pendidikan="15")
    mismatch = person_row()
    mismatch["Tanggal Lahir"] = "1970-01-01"
    data = csv_bytes(good[:2] + [bad_nip, wrong_gender] + good[2:] + [too_high, mismatch],
                     delimiter=";")
    report = run_import(call, store, data)

    assert report["status"] == "completed", report
    assert (report["total_rows"], report["registered"], report["invalid"]) == (9, 5, 4)
    by_row = {p["row"]: p for p in report["problems"]}
    assert sorted(by_row) == [4, 5, 9, 10]  # file rows: the header is row 1
    assert by_row[4]["problems"][0]["code"] == "invalid" and by_row[4]["problems"][0]["field"] \
        == "nip"
    assert by_row[5]["problems"][0]["field"] == "gender"
    assert by_row[9]["problems"][0]["code"] == "golongan_above_education"
    assert {p["code"] for p in by_row[10]["problems"]} >= {"nip_mismatch_birth_date"}

    with call(FASIL) as svc:
        record = svc.get_employee(good[0]["NIP"])
        assert record["name"] == "Pegawai Impor" and record["opd_id"] == "dkp"
        assert record["histories"]["pangkat"][0]["golongan"] == "III/a"
        with pytest.raises(Exception):  # noqa: B017 - invalid rows left nothing behind
            svc.get_employee(too_high["NIP"])
    with call(OTHER_FASIL) as svc:
        with pytest.raises(Forbidden):
            svc.start_import({"opd_id": "dkp", "sha256": store.put(data).sha256,
                              "file_name": "x.csv"})
        with pytest.raises(Exception, match="tidak ditemukan"):
            svc.get_import(report["import_id"])


def test_running_the_same_file_again_changes_nothing_and_edits_become_updates(
        stack, database_url):
    call, store = stack
    rows = [person_row() for _ in range(4)]
    first = run_import(call, store, csv_bytes(rows))
    assert first["registered"] == 4
    events_before = log_head(database_url)

    again = run_import(call, store, csv_bytes(rows))
    assert (again["registered"], again["unchanged"], again["invalid"]) == (0, 4, 0)
    assert log_head(database_url) == events_before, "a re-run writes no employee events"

    rows[0]["alamat"] = "Jl. Baru 9"
    rows[1]["Tanggal Lahir"] = "1960-01-01"  # identity data: not through a spreadsheet
    edited = run_import(call, store, csv_bytes(rows))
    assert (edited["updated"], edited["unchanged"], edited["invalid"]) == (1, 2, 1)
    assert edited["problems"][0]["row"] == 3
    assert {p["code"] for p in edited["problems"][0]["problems"]} == {"not_updatable_by_import"}
    with call(FASIL) as svc:
        assert svc.get_employee(rows[0]["NIP"])["address"] == "Jl. Baru 9"
        history = svc.field_history(rows[0]["NIP"], "address")
    assert history[-1]["reason"] == "impor pegawai.csv baris 2"
    assert history[-1]["actor_id"] == FASIL["actor_id"]


def test_an_xlsx_file_with_real_dates_and_a_nip_typed_as_a_number(stack):
    call, store = stack
    good, numeric = person_row(), person_row()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in (good, numeric):
        values = [row[h] for h in HEADER]
        values[3] = datetime.fromisoformat(row["Tanggal Lahir"])  # a real date cell
        sheet.append(values)
    sheet.cell(row=3, column=1).value = int(numeric["NIP"])  # Excel turned it into a number
    out = io.BytesIO()
    book.save(out)
    report = run_import(call, store, out.getvalue(), name="pegawai.xlsx")
    assert report["kind"] == "xlsx" and report["registered"] == 1 and report["invalid"] == 1
    assert report["problems"][0]["problems"][0]["code"] == "numeric_identity"


def test_a_file_that_cannot_be_an_import_is_refused_at_once(stack):
    call, store = stack
    with call(FASIL) as svc:
        for data, text in ((csv_bytes([person_row()], header=[*HEADER, "gaji"]),
                            "kolom tidak dikenal"),
                           (b"Nama,alamat\nA,B\n", "kolom wajib"),
                           (b"\xff\xfe\x00\x00" * 100, "bukan CSV"),
                           (b"PK\x03\x04 not really a workbook", "XLSX rusak")):
            with raises_code(imports.ImportRejected.code) as refused:
                svc.start_import({"opd_id": "dkp", "sha256": store.put(data).sha256,
                                  "file_name": "x.csv"})
            assert text in refused.value.message
        health = csv_bytes([person_row(catatan_kesehatan="asma")],
                           header=[*HEADER, "catatan_kesehatan"])
        with pytest.raises(Forbidden, match="catatan_kesehatan"):
            svc.start_import({"opd_id": "dkp", "sha256": store.put(health).sha256,
                              "file_name": "x.csv"})
    report = run_import(call, store, health, context=ADMIN)
    assert report["registered"] == 1


def test_a_job_whose_runner_died_is_resumed_after_its_last_committed_chunk(
        stack, database_url):
    call, store = stack
    rows = [person_row() for _ in range(7)]
    stored = store.put(csv_bytes(rows))
    conn = psycopg2.connect(database_url)
    try:
        # a job as a crashed replica leaves it: claimed, first chunk (3 rows) committed
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO records.imports (import_id, opd_id, file_sha256, file_name, kind, "
                "status, context, runner, attempts, heartbeat, rows_done, total_rows, "
                "unchanged) VALUES (gen_random_uuid(), 'dkp', %s, 'pegawai.csv', 'csv', "
                "'running', %s, 'dead-runner', 1, now() - interval '1 hour', 4, 3, 3) "
                "RETURNING import_id::text",
                (stored.sha256, '{"actor_id": "fas.dkp", "actor_role": "fasilitator", '
                 '"actor_roles": ["fasilitator"], "actor_scope": ["dkp"]}'))
            (import_id,) = cur.fetchone()
    finally:
        conn.close()
    with call(FASIL) as svc:
        wait_for(lambda: svc.get_import(import_id)["status"] == "completed", timeout=60,
                 message="the timer takes the stale job over")
        job = svc.get_import(import_id)
        assert (job["total_rows"], job["registered"], job["unchanged"]) == (7, 4, 3)
        assert [svc.get_employee(r["NIP"])["nip"] for r in rows[3:]] == [
            r["NIP"] for r in rows[3:]]
        for row in rows[:3]:  # the "committed" chunk was never really imported here
            with pytest.raises(Exception, match="tidak ditemukan"):
                svc.get_employee(row["NIP"])


def test_a_nip_twice_in_one_file_is_judged_against_its_earlier_row(stack):
    call, store = stack
    first = person_row()
    second = {**first, "alamat": "Jl. Kedua 2"}
    third = {**first, "Tanggal Lahir": "1950-01-01"}
    report = run_import(call, store, csv_bytes([first, second, third]))
    assert (report["registered"], report["updated"], report["invalid"]) == (1, 1, 1)
    assert report["problems"][0]["row"] == 4
    with call(FASIL) as svc:
        record = svc.get_employee(first["NIP"])
    assert record["address"] == "Jl. Kedua 2" and record["version"] == 3
