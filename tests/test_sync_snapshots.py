"""Issue 14, part 4: a region's full snapshot, signed over its digest and streamed in, loaded row
by row, and the reconciliation report against a fixture with known differences of every kind
(the whole list compared, numbering and digest included), through the gateway as a region's IT
team and BKD use it, with the real records service behind."""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import uuid
from datetime import date
from urllib.parse import urlparse

import psycopg2
import pytest

from services.records.service import RecordsService
from services.signing.service import SigningService
from services.sync.service import SyncService
from shared.contracts.records import ROSTER_FIELDS
from shared.contracts.sync import DIFFERENCE_KINDS
from shared.nip import nip_problems
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.identity_helpers import employee_for, rpc, unique_nip
from tests.sync_helpers import onboard, region_client, sync_log

SYSTEM = {"actor_id": "service:test", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}
#: the gateway's refusal of a too large snapshot is tested with this (sync's own limit)
MAX_BYTES = 8192
#: the CSV header as a region's spreadsheet writes it (aliases of records' import columns)
HEADER = {"nip": "nip", "name": "nama", "date_of_birth": "tanggal_lahir",
          "gender": "jenis_kelamin", "status": "status", "tmt_cpns": "tmt_cpns",
          "golongan": "golongan", "education_id": "pendidikan", "birth_place": "tempat_lahir",
          "opd_id": "opd_id", "opd_name": "nama_opd"}


@pytest.fixture
def stack(start_gateway, own_database):
    client, people, config = start_gateway(SyncService, RecordsService, SigningService,
                                           DATABASE_URL=own_database,
                                           SYNC_MAX_SNAPSHOT_BYTES=MAX_BYTES)
    admin = http_login(client, people, people.staff(["administrator"]))
    return client, admin, config, own_database


def register(config, region: str, nip: str, **data) -> None:
    """An employee of `region` in records, as the region's feed registers one."""
    payload = {k: v for k, v in employee_for(nip).items() if k not in ("reason", "opd_id")}
    change = {"event_id": str(uuid.uuid4()), "sequence": 1, "kind": "employee_registered",
              "nip": nip, "data": {**payload, "opd_id": f"{region}.dinkes",
                                   "opd_name": "Dinas Kesehatan", **data}}
    with rpc(config, SYSTEM, service="records") as records:
        assert records.apply_region_change(region, change)["status"] == "applied"


def row_of(nip: str, region: str = "3507", **changes) -> dict:
    """A snapshot row agreeing with what `register` stores for `nip`."""
    base = employee_for(nip)
    row = {"nip": nip, "name": base["name"], "date_of_birth": base["date_of_birth"],
           "gender": base["gender"], "status": "PNS", "tmt_cpns": base["tmt_cpns"],
           "golongan": "III/a", "education_id": "40", "birth_place": "",
           "opd_id": f"{region}.dinkes", "opd_name": "Dinas Kesehatan"}
    return {**row, **changes}


def write_csv(path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([HEADER[name] for name in HEADER])
        for row in rows:
            writer.writerow([row.get(name, "") for name in HEADER])


def snapshot_row(url: str, snapshot_id: str) -> dict:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, rows_total, rows_invalid, error::text FROM "
                        "sync.snapshots WHERE snapshot_id = %s", (snapshot_id,))
            found = cur.fetchone()
    finally:
        conn.close()
    if found is None:
        return {}
    return {"status": found[0], "rows_total": found[1], "rows_invalid": found[2],
            "error": json.loads(found[3]) if found[3] else None}


def wait_snapshot(url: str, snapshot_id: str, status: str) -> dict:
    return wait_for(lambda: (s := snapshot_row(url, snapshot_id)) and
                    s["status"] == status and s, timeout=60,
                    message=f"snapshot {snapshot_id} {status}")


def upload(region, tmp_path, rows: list[dict], name: str = "pegawai.csv") -> str:
    path = tmp_path / name
    write_csv(path, rows)
    status, answer = region.snapshot(path)
    assert status == 202, answer
    assert answer["status"] == "received"
    return answer["snapshot_id"]


def _jsonb(value) -> str:
    """A value as PostgreSQL's jsonb renders it as text (object keys by length, then bytes)."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_jsonb(v)}"
                               for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def test_the_report_lists_exactly_the_known_differences(stack, tmp_path):
    client, admin, config, url = stack
    region = onboard(client, admin, "3507")
    neighbour = onboard(client, admin, "3508")
    same, renamed, no_place, unsent, also_same = (unique_nip() for _ in range(5))
    for nip in (same, renamed, no_place, unsent, also_same):
        register(config, "3507", nip)
    held_by_neighbour, in_neighbour_snapshot, new = unique_nip(), unique_nip(), unique_nip()
    register(config, "3508", held_by_neighbour)
    # the neighbour's own snapshot, loaded before: one NIP 3507 also sends
    neighbour_snapshot = upload(neighbour, tmp_path, [
        row_of(in_neighbour_snapshot, "3508")], "3508.csv")
    wait_snapshot(url, neighbour_snapshot, "loaded")

    wrong_birth = unique_nip()
    born_other = "1960-01-01" if wrong_birth[:4] != "1960" else "1961-01-01"
    rows = [
        row_of(same, name="  siti   RAHAYU "),                        # line 2: equal, normalised
        row_of(renamed, name="Budi Santoso", golongan="III/b"),       # 3: two fields
        row_of(no_place, birth_place="Malang"),                       # 4: province has none
        row_of(also_same),                                            # 5: equal
        row_of(new),                                                  # 6: not in records
        row_of(held_by_neighbour),                                    # 7: records has it in 3508
        row_of(in_neighbour_snapshot),                                # 8: in 3508's snapshot
        {**row_of(unique_nip()), "nip": "12345", "name": "Salah Ketik"},  # 9: not a NIP
        row_of(wrong_birth, date_of_birth=born_other),                # 10: NIP vs birth date
        row_of(also_same, name="Baris Ganda"),                        # 11: NIP again
    ]
    snapshot_id = upload(region, tmp_path, rows)
    loaded = wait_snapshot(url, snapshot_id, "loaded")
    assert loaded["rows_total"] == 10 and loaded["rows_invalid"] == 2
    status, seen = region.get(f"snapshots/{snapshot_id}")
    assert status == 200 and seen["status"] == "loaded" and seen["rows_total"] == 10

    started = client.call("POST", "/api/sync/regions/3507/reconciliations", admin,
                          {"snapshot_id": snapshot_id, "year": 2026})
    assert started.status == 202, started.body
    assert started.body["status"] == "running"
    rid = started.body["reconciliation_id"]
    path = f"/api/sync/regions/3507/reconciliations/{rid}"
    report = wait_for(lambda: (a := client.call("GET", path, admin)).body["status"] ==
                      "reported" and a.body, timeout=60, message="report")

    with rpc(config, SYSTEM, service="records") as records:
        unsent_record = records.get_employee(unsent)
    row_values = {k: v for k, v in row_of(new).items() if k != "nip" and v}
    row_values_2 = {k: v for k, v in row_of(in_neighbour_snapshot).items() if k != "nip" and v}
    birth_problems = [p.as_dict() for p in nip_problems(
        wrong_birth, date_of_birth=date.fromisoformat(born_other),
        gender=row_of(wrong_birth)["gender"],
        tmt_cpns=date.fromisoformat(row_of(wrong_birth)["tmt_cpns"]))]
    expected = [
        ("missing_in_records", new, None, row_values, None, None, 6),
        ("missing_in_records", in_neighbour_snapshot, None, row_values_2, None, None, 8),
        ("missing_in_region", unsent, None, None,
         {f: unsent_record.get(f) for f in ROSTER_FIELDS}, None, None),
        ("field_mismatch", renamed, "golongan", "III/b", "III/a", None, 3),
        ("field_mismatch", renamed, "name", "Budi Santoso", "Siti Rahayu", None, 3),
        ("field_mismatch", no_place, "birth_place", "Malang", None, None, 4),
        ("nip_in_two_instansi", held_by_neighbour, None, None,
         {"in_records": True, "in_snapshot": None}, "3508", 7),
        ("nip_in_two_instansi", in_neighbour_snapshot, None, None,
         {"in_records": False, "in_snapshot": neighbour_snapshot}, "3508", 8),
        ("nip_invalid", "12345", None,
         [{"field": "nip", "code": "nip_format", "message": "NIP harus 18 digit angka"}],
         None, None, 9),
        ("nip_invalid", wrong_birth, None, sorted(birth_problems, key=lambda p: p["code"]),
         None, None, 10),
        ("nip_invalid", also_same, None, [{"field": "nip", "code": "nip_duplicate",
                                            "message": "NIP sama dengan baris 5"}],
         None, None, 11),
    ]
    expected.sort(key=lambda d: (DIFFERENCE_KINDS.index(d[0]), d[1], d[2] or "", d[5] or "",
                                 d[6] or 0))
    keys = ("kind", "nip", "field", "region_value", "province_value", "other_instansi", "line")
    want = [{"difference_id": i, **dict(zip(keys, d, strict=True)), "decision": None}
            for i, d in enumerate(expected, start=1)]

    listed = client.call("GET", f"{path}/differences?limit=1000", admin)
    assert listed.status == 200, listed.body
    assert listed.body["total"] == len(want)
    assert listed.body["differences"] == want

    figures = report["figures"]
    assert {k: figures[k] for k in DIFFERENCE_KINDS} == {
        "missing_in_records": 2, "missing_in_region": 1, "field_mismatch": 3,
        "nip_in_two_instansi": 2, "nip_invalid": 3}
    assert figures["rows_compared"] == 10 and figures["roster"] == 5
    assert figures["matched"] == 1  # `same`: held by both, no difference at all
    lines = "\n".join(_jsonb([d["difference_id"], d["kind"], d["nip"], d["field"],
                              d["region_value"], d["province_value"], d["other_instansi"],
                              d["line"]]) for d in want)
    assert figures["differences_sha256"] == hashlib.sha256(lines.encode()).hexdigest()
    reported = sync_log(url, "3507", "ReconciliationReported")
    assert reported[-1]["differences_sha256"] == figures["differences_sha256"]

    # paged and by kind, for BKD and for the region itself (signed)
    page = client.call("GET", f"{path}/differences?kind=field_mismatch&offset=1&limit=1", admin)
    assert page.body["total"] == 3 and page.body["differences"] == [want[4]]
    status, own = region.get(f"reconciliations/{rid}/differences",
                             query="kind=nip_invalid&limit=10")
    assert status == 200 and own["differences"] == want[-3:]
    status, own_report = region.get(f"reconciliations/{rid}")
    assert status == 200 and own_report["figures"] == figures
    status, theirs = neighbour.get(f"reconciliations/{rid}")
    assert status == 404, theirs  # another region's report is not 3508's to read
    listing = client.call("GET", "/api/sync/regions/3507/reconciliations", admin)
    assert [r["reconciliation_id"] for r in listing.body] == [rid]
    region_status = client.call("GET", "/api/sync/regions/3507", admin).body
    assert region_status["last_snapshot"]["snapshot_id"] == snapshot_id
    assert region_status["last_reconciliation"]["status"] == "reported"


def test_a_reconciliation_from_the_snapshot_to_the_signed_berita_acara(stack, tmp_path):
    """The whole yearly reconciliation through the real steps: the region's snapshot, the
    report, the meeting's decisions, the region's values applied to the records, the berita
    acara signed by the signing service and verifiable by anyone."""
    client, admin, config, url = stack
    region = onboard(client, admin, "3507")
    same, renamed, unsent = unique_nip(), unique_nip(), unique_nip()
    for nip in (same, renamed, unsent):
        register(config, "3507", nip)
    new = unique_nip()
    snapshot_id = upload(region, tmp_path, [
        row_of(same), row_of(renamed, name="Budi Santoso", golongan="III/b"), row_of(new)])
    wait_snapshot(url, snapshot_id, "loaded")
    started = client.call("POST", "/api/sync/regions/3507/reconciliations", admin,
                          {"snapshot_id": snapshot_id, "year": 2026})
    assert started.status == 202, started.body
    path = f"/api/sync/regions/3507/reconciliations/{started.body['reconciliation_id']}"
    wait_for(lambda: client.call("GET", path, admin).body["status"] == "reported",
             timeout=60, message="report")
    listed = client.call("GET", f"{path}/differences?limit=100", admin).body["differences"]
    found = {(d["kind"], d["nip"], d["field"]): d["difference_id"] for d in listed}
    assert set(found) == {("missing_in_records", new, None),
                          ("missing_in_region", unsent, None),
                          ("field_mismatch", renamed, "name"),
                          ("field_mismatch", renamed, "golongan")}

    # the meeting: the region's name and the new employee taken, the golongan kept (a
    # kenaikan pangkat changes it, not a spreadsheet), the region asked about the one it omitted
    decided = client.call("POST", f"{path}/decisions", admin, {"decisions": [
        {"difference_id": found[("missing_in_records", new, None)], "decision": "take_region"},
        {"difference_id": found[("field_mismatch", renamed, "name")], "decision": "take_region"},
        {"difference_id": found[("field_mismatch", renamed, "golongan")],
         "decision": "keep_province"},
        {"difference_id": found[("missing_in_region", unsent, None)],
         "decision": "ask_correction", "note": "masih aktif?"}]})
    assert decided.status == 200, decided.body
    assert decided.body["undecided"] == 0
    status, asked = region.get(f"reconciliations/{started.body['reconciliation_id']}/corrections")
    assert status == 200 and [a["nip"] for a in asked] == [unsent]

    assert client.call("POST", f"{path}/apply", admin).status == 202
    wait_for(lambda: client.call("GET", path, admin).body["status"] == "applied", timeout=60,
             message="applied")
    outcomes = {d["difference_id"]: d["applied_outcome"] for d in client.call(
        "GET", f"{path}/decisions?decision=take_region", admin).body}
    assert all(o["status"] == "applied" for o in outcomes.values()), outcomes
    with rpc(config, SYSTEM, service="records") as records:
        assert records.get_employee(renamed)["name"] == "Budi Santoso"
        assert records.get_employee(renamed)["golongan"] == "III/a"
        registered = records.get_employee(new)
    assert registered["instansi"] == "3507" and registered["name"] == row_of(new)["name"]

    closed = client.call("POST", f"{path}/berita-acara", admin, {
        "meeting_date": "2026-12-04", "place": "Ruang Rapat BKD Provinsi Jawa Timur",
        "participants": [{"name": "Dr. Budi Santoso, M.Si.", "position": "Kepala BKD",
                          "instansi": "Pemerintah Provinsi Jawa Timur"}],
        "signer": "admin.bkd"})
    assert closed.status == 201, closed.body
    assert closed.body["status"] == "closed"
    verified = client.call("GET", f"/api/public/verification/{closed.body['berita_acara']}")
    assert verified.status == 200 and verified.body["valid"], verified.body
    (event,) = sync_log(url, "3507", "ReconciliationClosed")
    assert event["figures"]["missing_in_records"]["applied"] == 1
    assert event["figures"]["field_mismatch"]["applied"] == 1


def _raw_post(base: str, path: str, headers: dict, declared: int, sent: bytes) -> tuple:
    """POST announcing `declared` bytes but sending only `sent`: the answer must come without
    the rest of the body (the gateway did not wait to read it)."""
    address = urlparse(base)
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {address.hostname}",
                f"Content-Length: {declared}", "Content-Type: text/csv",
                *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        sock.sendall("\r\n".join(head).encode() + sent)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_an_unsigned_or_wrongly_signed_snapshot_is_refused_before_its_body_is_read(stack):
    client, admin, config, url = stack
    region = onboard(client, admin, "3507")
    digest = hashlib.sha256(b"x" * 4000).hexdigest()
    path = "/api/sync/3507/snapshots"
    status, body = _raw_post(client.base, path, {}, 4000, b"x" * 10)
    assert (status, body["code"]) == (401, "signature_missing")
    signed = region_client.snapshot_headers("3507", region.key_id, "not-the-secret", digest)
    status, body = _raw_post(client.base, path, signed, 4000, b"x" * 10)
    assert (status, body["code"]) == (401, "signature_invalid")
    # another region's key for 3507's address
    other = onboard(client, admin, "3508")
    theirs = region_client.snapshot_headers("3508", other.key_id, other.secret, digest)
    status, body = _raw_post(client.base, path, theirs, 4000, b"x" * 10)
    assert status == 401 and body["code"] == "key_unknown"
    signed_as_3507 = {**theirs, "X-Simasn-Region": "3507"}
    status, body = _raw_post(client.base, path, signed_as_3507, 4000, b"x" * 10)
    assert status == 401 and body["code"] == "key_unknown"
    assert sync_log(url, "3507", "SnapshotReceived") == []


def test_an_upload_is_refused_for_a_bad_digest_a_replayed_id_its_size_or_type(stack, tmp_path):
    client, admin, config, url = stack
    region = onboard(client, admin, "3507")
    path = tmp_path / "pegawai.csv"
    write_csv(path, [row_of(unique_nip())])
    status, body = region.snapshot(path, content_sha256=hashlib.sha256(b"lain").hexdigest())
    assert (status, body["code"]) == (422, "snapshot_digest_mismatch")
    snapshot_id = str(uuid.uuid4())
    status, body = region.snapshot(path, snapshot_id=snapshot_id)
    assert status == 202 and body["snapshot_id"] == snapshot_id
    status, body = region.snapshot(path, snapshot_id=snapshot_id)
    assert (status, body["code"]) == (409, "snapshot_replayed")
    big = tmp_path / "besar.csv"
    write_csv(big, [row_of(unique_nip()) for _ in range(MAX_BYTES // 50)])
    assert big.stat().st_size > MAX_BYTES
    status, body = region.snapshot(big)
    assert (status, body["code"]) == (413, "snapshot_too_large")
    status, body = region.snapshot(path, content_type="application/json")
    assert (status, body["code"]) == (415, "unsupported_media_type")
    status, body = region.snapshot(path, snapshot_id="bukan-uuid")
    assert (status, body["code"]) == (422, "snapshot_invalid")
    received = sync_log(url, "3507", "SnapshotReceived")
    assert [e["snapshot_id"] for e in received] == [snapshot_id]


def test_a_file_that_is_not_a_snapshot_fails_with_its_reason(stack, tmp_path):
    client, admin, config, url = stack
    region = onboard(client, admin, "3507")
    picture = tmp_path / "foto.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    not_ours = tmp_path / "lain.csv"
    not_ours.write_text("kolom_a,kolom_b\n1,2\n", encoding="utf-8")
    lines = tmp_path / "pegawai.jsonl"
    lines.write_text("ini bukan json\n", encoding="utf-8")
    failed = {}
    for path, code in ((picture, "not_utf8"), (not_ours, "unknown_columns"),
                       (lines, "not_jsonl")):
        status, answer = region.snapshot(path)
        assert status == 202, answer
        failed[answer["snapshot_id"]] = code
    for snapshot_id, code in failed.items():
        row = wait_snapshot(url, snapshot_id, "failed")
        assert row["error"]["code"] == code and row["rows_total"] == 0
    events = {e["snapshot_id"]: e for e in sync_log(url, "3507", "SnapshotFailed")}
    assert {k: e["code"] for k, e in events.items()} == failed
    assert all(e["reason"] for e in events.values())
    listed = client.call("GET", "/api/sync/regions/3507/snapshots", admin)
    assert {s["snapshot_id"]: s["status"] for s in listed.body} == {
        k: "failed" for k in failed}
    refused = client.call("POST", "/api/sync/regions/3507/reconciliations", admin,
                          {"snapshot_id": next(iter(failed)), "year": 2026})
    assert (refused.status, refused.body["code"]) == (409, "snapshot_not_loaded")
