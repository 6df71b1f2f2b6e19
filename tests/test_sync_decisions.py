"""Issue 14 part 4, second half: decisions on a reconciliation's differences (allowed and refused
per kind, changed, in bulk), applied to the real records service exactly once in effect (a
refusal recorded with records' reasons, a crashed run resumed), and the meeting's berita acara
produced and signed by the real signing service, verifiable publicly, the reconciliation closed.

Each case starts from a reconciliation made reported by `reported_reconciliation` (tables
written directly, so a case is set up in milliseconds with exactly the differences it needs);
the real chain from the snapshot to the berita acara is
tests/test_sync_snapshots.py::test_a_reconciliation_from_the_snapshot_to_the_signed_berita_acara."""

import io
import urllib.request
from urllib.parse import urlencode

import psycopg2
import pytest

from services.records.service import RecordsService
from services.signing.service import SigningService
from services.sync.service import SyncService
from services.sync.usecases.settlement import change_event_id
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.identity_helpers import employee_for, rpc, unique_nip
from tests.records_helpers import ADMIN
from tests.sync_helpers import onboard, reported_reconciliation, sync_log

pytestmark = pytest.mark.timeout(180)

SYSTEM = {"actor_id": "service:test", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}
REGION = "3507"
SIGNER = "admin.bkd"  # the test key store's signing official (tests/conftest.py)


@pytest.fixture
def meeting(start_gateway, own_database):
    client, people, config = start_gateway(SyncService, RecordsService, SigningService,
                                           DATABASE_URL=own_database)
    admin = http_login(client, people, people.staff(["administrator"]))
    auditor = http_login(client, people, people.staff(["auditor"]))
    region = onboard(client, admin, REGION)
    return client, admin, auditor, config, own_database, region


def region_employee(config, name: str = "Siti Rahayu") -> str:
    """An employee of the kabupaten in the records, as its feed would have registered them."""
    nip = unique_nip()
    body = {**{k: v for k, v in employee_for(nip).items() if k != "reason"}, "name": name,
            "instansi": REGION, "opd_id": f"{REGION}.dinkes", "opd_name": "Dinas Kesehatan"}
    with rpc(config, ADMIN, service="records") as records:
        records.register_employee(body, "data awal")
    return nip


def record_of(config, nip):
    with rpc(config, SYSTEM, service="records") as records:
        return records.get_employee(nip)


def wait_applied(url: str, rid: str, times: int) -> None:
    """Until the applier finished the reconciliation `times` times (ReconciliationApplied)."""
    wait_for(lambda: len([e for e in sync_log(url, REGION, "ReconciliationApplied")
                          if e["reconciliation_id"] == rid]) == times,
             timeout=60, message=f"applied ({times})")


def base(rid: str) -> str:
    return f"/api/sync/regions/{REGION}/reconciliations/{rid}"


def decide(client, admin, rid, *items, **bulk):
    body = {"bulk": bulk} if bulk else {"decisions": [
        {"difference_id": i, "decision": d, "note": f"rapat: {d}"} for i, d in items]}
    return client.call("POST", f"{base(rid)}/decisions", admin, body)


def decided(client, admin, rid, **query):
    answer = client.call("GET", f"{base(rid)}/decisions?{urlencode(query)}", admin)
    assert answer.status == 200, answer.body
    return {d["difference_id"]: d for d in answer.body}


def one_of_each(nips: dict) -> list[dict]:
    """One difference of each kind, plus field mismatches on a field records refuses to take
    from a region (instansi) and one more on name for the bulk form."""
    return [
        {"kind": "missing_in_records", "nip": nips["new"], "line": 1},
        {"kind": "field_mismatch", "nip": nips["a"], "field": "name", "line": 2,
         "region_value": "Siti Aminah", "province_value": "Siti Rahayu"},
        {"kind": "missing_in_region", "nip": nips["b"], "province_value": None},
        {"kind": "nip_in_two_instansi", "nip": nips["c"], "line": 3, "other_instansi": "3571"},
        {"kind": "nip_invalid", "nip": "12345", "line": 4},
        {"kind": "field_mismatch", "nip": nips["a"], "field": "instansi", "line": 2,
         "region_value": "3571", "province_value": REGION},
        {"kind": "field_mismatch", "nip": nips["b"], "field": "name", "line": 5,
         "region_value": "Budi Santoso", "province_value": "Siti Rahayu"},
    ]


def snapshot_rows(nips: dict) -> dict:
    new = {**{k: v for k, v in employee_for(nips["new"]).items() if k != "reason"},
           "name": "Ahmad Fauzi", "opd_id": f"{REGION}.dinkes", "opd_name": "Dinas Kesehatan"}
    return {1: new, 2: {"nip": nips["a"], "name": "Siti Aminah"},
            3: {"nip": nips["c"]}, 4: {"nip": "12345"}, 5: {"nip": nips["b"]}}


def test_decisions_allowed_and_refused_per_kind_changed_in_bulk_and_read(meeting):
    client, admin, auditor, config, url, region = meeting
    nips = {"new": unique_nip(), "a": unique_nip(), "b": unique_nip(), "c": unique_nip()}
    rid = reported_reconciliation(url, REGION, snapshot_rows(nips), one_of_each(nips))
    refused = {  # (difference, decision): the field the refusal names
        (3, "take_region"): "decisions[0].decision",  # would remove an employee
        (4, "take_region"): "decisions[0].decision",  # a transfer is a mutasi
        (5, "take_region"): "decisions[0].decision",
        (5, "keep_province"): "decisions[0].decision",  # an invalid NIP: corrections only
        (6, "take_region"): "decisions[0].decision",  # instansi is not the region's to change
        (99, "keep_province"): "decisions[0].difference_id",
    }
    for (difference, decision), field in refused.items():
        answer = decide(client, admin, rid, (difference, decision))
        assert answer.status == 422 and answer.body["field"] == field, (difference, answer.body)
        assert answer.code in ("decision_not_allowed", "difference_unknown")
    # every allowed decision of every kind
    allowed = [(1, "take_region"), (2, "keep_province"), (3, "ask_correction"),
               (4, "keep_province"), (5, "ask_correction"), (6, "ask_correction")]
    answer = decide(client, admin, rid, *allowed)
    assert answer.status == 200, answer.body
    assert answer.body == {"reconciliation_id": rid, "decided": 6, "changed": 0, "undecided": 1}
    # a decision changes until applied; the event says which changed
    answer = decide(client, admin, rid, (2, "take_region"))
    assert answer.body["changed"] == 1
    # the bulk form: every undecided field_mismatch on name
    answer = decide(client, admin, rid, kind="field_mismatch", field="name",
                    decision="take_region", note="nama mengikuti SK daerah")
    assert answer.status == 200 and answer.body["decided"] == 1 and answer.body["undecided"] == 0
    bulk_refused = decide(client, admin, rid, kind="nip_invalid", decision="keep_province")
    assert bulk_refused.status == 422 and bulk_refused.body["field"] == "bulk.decision"
    both = client.call("POST", f"{base(rid)}/decisions", admin, {
        "decisions": [{"difference_id": 1, "decision": "take_region"}],
        "bulk": {"kind": "nip_invalid", "decision": "ask_correction"}})
    assert both.status == 422
    seen = decided(client, auditor, rid)
    assert {i: d["decision"] for i, d in seen.items()} == {
        1: "take_region", 2: "take_region", 3: "ask_correction", 4: "keep_province",
        5: "ask_correction", 6: "ask_correction", 7: "take_region"}
    assert seen[7]["note"] == "nama mengikuti SK daerah" and seen[7]["decided_by"]
    assert seen[2]["region_value"] == "Siti Aminah"
    assert set(decided(client, admin, rid, decision="ask_correction")) == {3, 5, 6}
    # the events: one per decision a call took, the changed one named
    log = sync_log(url, REGION, "ReconciliationDecisionsRecorded")
    assert [(e["decision"], e["difference_ids"], e["changed_ids"]) for e in log] == [
        ("ask_correction", [3, 5, 6], []), ("keep_province", [2, 4], []),
        ("take_region", [1], []), ("take_region", [2], [2]), ("take_region", [7], [])]
    assert log[-1]["selector"] == {"kind": "field_mismatch", "field": "name"}
    # the region reads what it is asked to correct, signed with its own key
    status, asked = region.get(f"reconciliations/{rid}/corrections")
    assert status == 200 and [a["difference_id"] for a in asked] == [3, 5, 6]
    assert asked[1]["nip"] == "12345" and asked[1]["note"] == "rapat: ask_correction"
    status, _ = region.get("reconciliations/00000000-0000-4000-8000-000000000000/corrections")
    assert status == 404
    # an auditor reads, never decides
    assert decide(client, auditor, rid, (1, "keep_province")).status == 403


def test_apply_takes_the_regions_values_once_and_records_refusals_with_reasons(meeting):
    client, admin, auditor, config, url, region = meeting
    nips = {"new": unique_nip(), "a": region_employee(config), "b": region_employee(config),
            "c": unique_nip()}
    differences = one_of_each(nips) + [
        # a date of birth the NIP contradicts: records refuses to take it
        {"kind": "field_mismatch", "nip": nips["b"], "field": "date_of_birth", "line": 5,
         "region_value": "1950-01-01", "province_value": "1990-01-01"}]
    rid = reported_reconciliation(url, REGION, snapshot_rows(nips), differences)
    assert decide(client, admin, rid, (1, "take_region"), (2, "take_region"),
                  (3, "keep_province"), (4, "ask_correction"), (5, "ask_correction"),
                  (6, "keep_province"), (7, "take_region"), (8, "take_region")).status == 200
    version_b = record_of(config, nips["b"])["version"]
    # a crash of an earlier run: records applied difference 7, the outcome was never recorded
    change = {"event_id": change_event_id(rid, 7), "kind": "data_pokok_changed",
              "nip": nips["b"], "data": {"changes": {"name": "Budi Santoso"}},
              "origin": {"reconciliation_id": rid, "difference_id": 7}}
    with rpc(config, SYSTEM, service="records") as records:
        assert records.apply_region_change(REGION, change)["status"] == "applied"
    # ... and the runner died holding the lease (SIGKILL): it is taken over once it lapses
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE sync.reconciliations SET status = 'applying', runner = 'mati', "
                    "lease_until = now() - interval '1 second' WHERE reconciliation_id = %s",
                    (rid,))
    conn.close()
    started = client.call("POST", f"{base(rid)}/apply", admin)
    assert started.status == 202 and started.body["status"] in ("applying", "applied")
    wait_applied(url, rid, 1)
    figures = sync_log(url, REGION, "ReconciliationApplied")[0]["figures"]
    assert figures["field_mismatch"]["applied"] == 2
    assert figures["field_mismatch"]["refused"] == 1
    assert figures["missing_in_records"]["applied"] == 1
    # the records: the region's values taken, the new employee registered in its instansi
    assert record_of(config, nips["a"])["name"] == "Siti Aminah"
    assert record_of(config, nips["b"])["name"] == "Budi Santoso"
    assert record_of(config, nips["b"])["version"] == version_b + 1  # once, not twice
    registered = record_of(config, nips["new"])
    assert registered["name"] == "Ahmad Fauzi" and registered["instansi"] == REGION
    # every outcome recorded; the refusal with records' reasons, field by field
    seen = decided(client, auditor, rid)
    assert seen[7]["applied_outcome"]["status"] == "applied"
    assert seen[7]["applied_outcome"]["records"] == "duplicate"
    refusal = seen[8]["applied_outcome"]
    assert refusal["status"] == "refused" and refusal["http_status"] == 422
    assert refusal["details"]["problems"] and refusal["field"]
    assert seen[3]["applied_at"] is None  # keep_province touches nothing
    applied_log = sync_log(url, REGION, "ReconciliationDecisionsApplied")
    outcomes = [o["difference_id"] for e in applied_log for o in e["outcomes"]]
    assert sorted(outcomes) == [1, 2, 7, 8]
    (finished,) = sync_log(url, REGION, "ReconciliationApplied")
    assert (finished["applied"], finished["refused"]) == (3, 1)
    # the region_changes rows say where each change came from
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT difference_id, sequence FROM records.region_changes WHERE "
                    "reconciliation_id = %s ORDER BY difference_id", (rid,))
        assert cur.fetchall() == [(1, None), (2, None), (7, None)]
    conn.close()
    # applied again: nothing left, nothing applied twice
    again = client.call("POST", f"{base(rid)}/apply", admin)
    assert again.status == 202
    wait_applied(url, rid, 2)
    assert record_of(config, nips["b"])["version"] == version_b + 1
    # an applied decision stays; a refused one may still change (ask the region instead)
    changed = decide(client, admin, rid, (2, "keep_province"))
    assert changed.status == 409 and changed.code == "decision_applied"
    assert decide(client, admin, rid, (8, "ask_correction")).status == 200
    assert decided(client, admin, rid)[8]["applied_outcome"] is None


def test_the_berita_acara_is_signed_verifiable_and_closes_the_reconciliation(meeting):
    client, admin, auditor, config, url, region = meeting
    nips = {"new": unique_nip(), "a": region_employee(config), "b": region_employee(config),
            "c": unique_nip()}
    rid = reported_reconciliation(url, REGION, snapshot_rows(nips), one_of_each(nips),
                                  figures={"matched": 41250})
    body = {"meeting_date": "2026-12-04", "place": "Ruang Rapat BKD Provinsi Jawa Timur",
            "participants": [
                {"name": "Dr. Budi Santoso, M.Si.", "position": "Kepala BKD",
                 "instansi": "Pemerintah Provinsi Jawa Timur"},
                {"name": "Ir. Sri Wahyuni", "position": "Kepala BKPSDM",
                 "instansi": "Pemerintah Kabupaten Malang"}],
            "signer": SIGNER, "notes": "Daerah memperbaiki NIP tidak sah dalam 30 hari."}
    berita = f"{base(rid)}/berita-acara"
    early = client.call("POST", berita, admin, body)
    assert early.status == 409 and early.code == "berita_acara_not_ready"
    decide(client, admin, rid, (1, "take_region"), (2, "take_region"), (3, "keep_province"),
           (4, "ask_correction"), (5, "ask_correction"), (6, "keep_province"),
           (7, "keep_province"))
    assert client.call("POST", berita, admin, body).code == "berita_acara_not_ready"  # unapplied
    assert client.call("POST", f"{base(rid)}/apply", admin).status == 202
    wait_applied(url, rid, 1)
    # an official without a signing certificate: refused, the decisions open again
    unsigned = client.call("POST", berita, admin, {**body, "signer": "tanpa.sertifikat"})
    assert unsigned.status == 422 and unsigned.body["field"] == "signer"
    assert sync_log(url, REGION, "BeritaAcaraRefused")[0]["code"] == "validation_failed"
    assert decide(client, admin, rid, (3, "keep_province")).status == 200
    closed = client.call("POST", berita, admin, body)
    assert closed.status == 201, closed.body
    assert closed.body["status"] == "closed" and closed.body["berita_acara"]
    document_id = closed.body["berita_acara"]
    (event,) = sync_log(url, REGION, "ReconciliationClosed")
    assert event["berita_acara"] == document_id and event["signer"] == SIGNER
    assert event["figures"]["missing_in_records"]["applied"] == 1
    # signed by the official, verifiable by anyone
    verified = client.call("GET", f"/api/public/verification/{document_id}")
    assert verified.status == 200 and verified.body["valid"], verified.body
    assert verified.body["document"]["title"] == "BERITA ACARA REKONSILIASI DATA ASN"
    assert verified.body["signature"]["signer"] == "Dr. Budi Santoso, M.Si."
    # administrators and auditors download it (a reconciliation has no NIP)
    for token in (admin, auditor):
        pdf = download(client, f"/api/signed-documents/{document_id}/pdf", token)
        assert pdf.startswith(b"%PDF")
    text = _text(pdf)
    for expected in ("BERITA ACARA REKONSILIASI DATA ASN", "Kabupaten Malang", "4 Desember 2026",
                     "Ir. Sri Wahyuni", "Kepala BKPSDM", "Isian data berbeda", "41250",
                     "ambil data daerah", "minta perbaikan", "SHA-256"):
        assert expected in text, expected
    uploaded = client.call("POST", "/api/public/verification", raw=pdf,
                           headers={"Content-Type": "application/pdf"})
    assert uploaded.status == 200 and uploaded.body["valid"], uploaded.body
    # closed: nothing more is decided, applied or signed again
    assert decide(client, admin, rid, (3, "ask_correction")).code == \
        "reconciliation_not_decidable"
    assert client.call("POST", f"{base(rid)}/apply", admin).status == 409
    assert client.call("POST", berita, admin, body).code == "berita_acara_not_ready"


def download(client, path: str, token: str) -> bytes:
    request = urllib.request.Request(client.base + path,
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - test server
        assert response.status == 200
        return response.read()


def _text(pdf: bytes) -> str:
    """The text of every page, from the content streams (reportlab writes plain strings)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf))
    kids = reader.root["/Pages"]["/Kids"]
    return "".join(kids[i]["/Contents"].data.decode("latin-1") for i in range(len(kids)))


# -- the rules and the rendering, without services --------------------------------------------

def test_the_decision_table_and_the_fields_a_region_may_change():
    from services.sync import domain

    assert domain.decision_refusal("field_mismatch", "name", "take_region") is None
    for field in ("nip", "instansi", "catatan_kesehatan"):
        assert "tidak dapat diubah" in domain.decision_refusal("field_mismatch", field,
                                                               "take_region")
    assert domain.decision_refusal("field_mismatch", "nip", "keep_province") is None
    assert "mutasi" in domain.decision_refusal("nip_in_two_instansi", None, "take_region")
    assert domain.decision_refusal("nip_invalid", None, "keep_province")
    assert domain.decision_refusal("missing_in_records", None, "take_region") is None
    kind, data = domain.region_change("missing_in_records", None, None,
                                      {"name": "Ani", "unit": "", "_line": 3}, "1" * 18)
    assert (kind, data) == ("employee_registered", {"name": "Ani", "nip": "1" * 18})


def test_thousands_of_decisions_are_summarised_with_the_digest_and_still_render():
    import datetime as dt

    from services.signing import domain as signing_domain
    from services.signing import render
    from services.sync import domain

    figures = domain.applied_figures([("field_mismatch", "take_region", "applied", 2400),
                                      ("field_mismatch", "take_region", "refused", 100),
                                      ("nip_invalid", "ask_correction", None, 500)])
    participants = [{"name": f"Peserta {i}", "position": "Analis SDM Aparatur",
                     "instansi": "Pemerintah Kabupaten Malang"} for i in range(40)]
    values = domain.berita_acara_values(
        region_name="Kabupaten Malang", year=2026,
        meeting={"date": dt.date(2026, 12, 4), "place": "Ruang Rapat BKD",
                 "participants": participants, "notes": None},
        figures=figures, matched=None, decisions=[], total=3000, digest="ab" * 32,
        reference="GET /api/sync/regions/3507/reconciliations/x/decisions")
    assert values["keputusan"] == [] and "Karena berjumlah 3000" in values["keputusan_rujukan"]
    assert "ab" * 32 in values["keputusan_rujukan"] and values["jumlah_cocok"] == "-"
    assert "2400 perubahan diterapkan" in values["ringkasan"]
    assert "100 ditolak" in values["ringkasan"]
    pdf = render.render(signing_domain.template_for(domain.BERITA_ACARA_KEY), values,
                        number="800.1.1.2/1/204/2026", document_id="x",
                        verification_url="https://simasn.test/verifikasi/x",
                        place_date="Surabaya, 5 Desember 2026")
    text = _text(pdf)
    assert "Peserta 39" in text and "Karena berjumlah 3000" in text
    from pyhanko.pdf_utils.reader import PdfFileReader

    assert len(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"]) >= 2  # 40 participants
